"""Running nodes: keys, sing-box server configs, SSH with pinned host keys, bootstrap, push."""
