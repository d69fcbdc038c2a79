"""Security regressions: each case an attacker's review reproduced against a running tokend.

One module per area (``test_<area>.py``); where a property concerns a real server, the case runs
black-box against a ``tokend serve`` subprocess (tests/e2e/server.py)."""
