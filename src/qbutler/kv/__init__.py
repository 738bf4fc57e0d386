"""The key-value store: one protocol (`store.Store`), one backend per module."""
