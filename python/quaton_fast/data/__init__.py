"""Dataset loaders and generators (offline only)."""
