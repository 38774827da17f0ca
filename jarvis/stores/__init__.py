"""One module per store: connect, close, health, and that store's own operations."""
