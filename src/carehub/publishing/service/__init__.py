"""Publishing services: configuration, runs, propagation, explain and status."""
