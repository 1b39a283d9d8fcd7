"""Public test helpers: check what toygrpc writes against the real tools that read it."""
