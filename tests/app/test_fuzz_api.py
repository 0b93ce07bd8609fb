"""Fuzz the HTTP API from its own OpenAPI document (schemathesis), in process, on the FakeBackend.

Schema-valid and schema-violating requests to every operation: none may get a 5xx, and every
answer of the native API must match what the document declares (status code, media type, body schema) — the
200 verdicts as ``RunResponse`` and the service errors as ``Problem`` (``application/problem+json``).

Bounded and deterministic for CI: a fixed number of examples per operation, derandomized, no
example database; the FakeBackend means no Docker and no network (the ASGI app is called in process).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from gosandbox.settings import Settings

pytestmark = pytest.mark.fuzz

#: Examples per operation and generation mode; the whole module runs in a few seconds on 2 cores.
MAX_EXAMPLES = 500

# Built at collection time (schema.parametrize needs the schema then), before any tmp_path exists:
# a fresh directory of its own holds the submission database (the binary cache is off).
_STATE_DIR = Path(tempfile.mkdtemp(prefix="gosandbox-fuzz-"))
app = create_app(Settings(state_dir=_STATE_DIR, binary_cache_mb=0), backend=FakeBackend())
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: The other runners' APIs answer in their own shapes (Judge0's {"error"}, Piston's {"message"}, ...), which
#: their own clients read (tests/test_judge0.py and the others pin them); here they must only never fail.
FOREIGN = ("/judge0/", "/api/v2/", "/v1/", "/compile", "/share", "/p/")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_the_api_conforms_to_its_schema_and_never_fails(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(checks=[not_a_server_error] if case.path.startswith(FOREIGN) else CHECKS)
