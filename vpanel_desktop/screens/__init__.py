"""One module per screen, each with its widget and its model."""
