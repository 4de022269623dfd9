"""The public customer portal (Flask on waitress)."""
