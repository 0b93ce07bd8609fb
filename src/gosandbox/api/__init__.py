"""The native HTTP API, routes only: :mod:`~gosandbox.api.programs` (/run, /test, /vet, /fmt),
:mod:`~gosandbox.api.jobs` (/submissions), :mod:`~gosandbox.api.status` (/healthz, /readyz, /version, /limits).

What every route shares (parsing, schemas, problems, submit-and-wait) is the toolkit in :mod:`gosandbox.edge`.
"""
