"""Shared by the tests (moved out of tests/app/test_abuse_parsing.py so that no test module imports another)."""

from __future__ import annotations

import itertools
import string

JSON = {"content-type": "application/json"}


ENDPOINTS = ["/run", "/test", "/vet", "/fmt", "/submissions", "/submissions/batch"]


def flood_body(endpoint: str) -> bytes:
    body = many_keys_body()
    if endpoint == "/submissions/batch":  # the same keys, one level down: still 1 MiB at most
        return b'{"submissions":[' + body[: MIB - 40].rsplit(b",", 1)[0] + b"}}]}"
    return body


MIB = 1024 * 1024


def many_keys_body(size: int = MIB) -> bytes:
    """``{"code": ..., "limits": {"aaa":0, "aab":0, ...}}``: about 131 000 unknown keys in 1 MiB."""
    alphabet = string.ascii_letters + string.digits
    keys = ("".join(k) for k in itertools.product(alphabet, repeat=3))
    head, tail = b'{"code":"package main","limits":{', b"}}"
    body = bytearray(head)
    for item in (f'"{k}":0'.encode() for k in keys):
        if len(body) + len(item) + 1 + len(tail) > size:
            break
        body += item + b","
    return bytes(body[:-1] + tail)
