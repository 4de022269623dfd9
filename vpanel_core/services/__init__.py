"""Use cases: each function is one operation in one transaction owned by the caller."""
