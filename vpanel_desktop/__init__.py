"""The operator desktop app (PySide6): thin screens over vpanel_core services."""
