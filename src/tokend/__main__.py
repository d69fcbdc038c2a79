"""``python -m tokend`` and the ``tokend`` script (``run``).

The garbage collector waits while the modules load: they make objects that live as long as the
process, which each collection meanwhile only walked again (about a twentieth of a start,
counted with callgrind). ``tokend.cli.main.main`` turns it back on before a command runs."""

import gc


def run() -> None:
    gc.disable()
    from tokend.cli import main

    main()


if __name__ == "__main__":
    run()
