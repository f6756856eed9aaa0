"""Tamper evidence: signing keys, the global chain and its checkpoints, verification."""
