"""The version, in one place (the package, the API's /version, the clients' User-Agent)."""

__version__ = "0.1.0"
