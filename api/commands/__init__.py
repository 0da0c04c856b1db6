"""Command groups of the ``grants`` command, one module per area of work."""
