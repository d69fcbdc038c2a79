"""The vault's HTTP surface: seed-001 paths, one module per resource."""
