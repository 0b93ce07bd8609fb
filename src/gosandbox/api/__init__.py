"""The HTTP edge: build a RunSpec from a request, call the runner, render the RunResult."""

from gosandbox.api.app import create_app

__all__ = ["create_app"]
