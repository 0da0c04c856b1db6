"""The ways in: the ``grants`` command line and the HTTP API."""
