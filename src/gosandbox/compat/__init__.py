"""Translators from other runners' APIs to gosandbox jobs: one module per API."""
