"""Logs, metrics, traces, request ids and health probes."""
