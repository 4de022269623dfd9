"""vpanel domain: models, entitlement ledger, subscription formats, node configs."""

__version__ = "0.1.0"
