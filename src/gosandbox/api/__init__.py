"""The native HTTP API: /run, /test, /vet, /fmt, the status routes and /submissions (jobs)."""
