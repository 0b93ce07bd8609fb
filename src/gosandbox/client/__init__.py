"""A typed Python client of the HTTP API (``gosandbox.Client``, ``gosandbox.AsyncClient``)."""
