"""The HTTP server tokend runs in: its settings block."""
