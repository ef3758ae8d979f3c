"""Methods: one module per method; see runners/README section in the main README."""
