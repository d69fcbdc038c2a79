"""Background jobs: one ``Jobs`` interface, in-process when embedded, SAQ on Redis otherwise.

Capabilities register ``JobSpec``s from their ``build`` and enqueue by name; ``backend.open_jobs``
picks the backend from settings. With Redis, ``tokend worker`` runs the jobs (``run_worker``)
and ``tokend.jobs.monitor`` serves SAQ's web UI (imported where it is mounted: a server without
the monitor does not load it).
"""
