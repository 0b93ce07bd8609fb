"""The response type the test helpers take.

Starlette's TestClient answers ``httpx2`` responses when that package is installed (the ``mcp``
SDK installs it); tests against a live server use ``httpx``. The helpers read only what both share.
"""

import httpx
import httpx2

AnyResponse = httpx.Response | httpx2.Response
