"""The ``gosandbox`` command (:mod:`gosandbox.cli.main.main`), one module per family of commands."""
