"""Traffic accounting on the desktop: collect node journals, apply them once, roll them up."""
