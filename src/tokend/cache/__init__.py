"""Caching: a memory tier, a Redis tier and their composition; single-flight; locks.

``tiered.open_cache`` builds the process's one ``TieredCache`` (Redis behind memory when
``TOKEND_REDIS__URL`` is set, memory alone otherwise); ``lock.open_locks`` picks Redis locks on
the same pool, or database locks without Redis. The package imports nothing, so reading the
settings (``cache.settings``) loads no Redis client.
"""
