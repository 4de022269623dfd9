"""The helper installed next to sing-box on each node: supervise, journal usage, enforce."""
