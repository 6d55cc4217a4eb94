"""The demo portfolio that `make run` loads: realistic use cases and a slice of the federal inventory."""
