"""gosandbox."""
