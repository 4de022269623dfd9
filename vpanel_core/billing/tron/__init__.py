"""USDT on TRON (TRC20): unique amounts, the TronGrid client, the poller and TXID checks."""
