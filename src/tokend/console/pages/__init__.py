"""The console's pages, one module per area; each is mounted only when its capability runs."""
