"""Projections: read models folded from the global log, exactly once, by one active runner."""
