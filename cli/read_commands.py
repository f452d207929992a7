"""Read-side commands: ls, show, tail, rm (placeholder until written)."""

COMMANDS: dict = {}
