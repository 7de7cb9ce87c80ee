"""One widget per file; each takes the app state in ``__init__`` and subscribes to its signals."""
