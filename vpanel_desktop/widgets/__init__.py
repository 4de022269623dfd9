"""Small reusable widgets: forms with inline validation, charts, QR codes."""
