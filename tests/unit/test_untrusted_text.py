"""Server strings in messages and logs: escaped (no forged lines, no terminal escapes) and capped,
by the one helper every provider's decode_error uses."""

from __future__ import annotations

import json
import re

import pytest
import requests

from storfs.errors import AccessDenied, NotFound, RemoteError
from storfs.providers.azure import decode_error as azure_error
from storfs.providers.oas import decode_error as oas_error
from storfs.providers.qingstor import decode_error as qingstor_error
from storfs.untrusted import SERVER_TEXT_MAX, server_text

HOSTILE = {
    "newline": "NoSuchThing\n2026-01-01 storfs ERROR forged line",
    "carriage-return": "ok\rforged",
    "ansi": "\x1b[2J\x1b[31mred",
    "c1-and-del": "a\x9bb\x7fc",
    "lone-surrogate": "x\udcffy",
    "backslash": "a\\nb",  # a literal backslash-n must not read as an escaped newline
    "two-megabytes": "E" * 2_000_000,
}
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def response(status: int, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body
    r.headers.update(headers or {})
    return r


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_server_text_is_one_safe_bounded_line(text: str) -> None:
    shown = server_text(text)
    assert not CONTROL.search(shown)
    assert len(shown) <= 4 * SERVER_TEXT_MAX + 1  # each kept character escapes to at most 4
    if len(text) > SERVER_TEXT_MAX:
        assert shown.endswith("…")


def test_server_text_escapes_are_unambiguous() -> None:
    assert server_text("a\nb") == "a\\nb"
    assert server_text("a\\nb") == "a\\\\nb"
    assert server_text("\x1b[0m") == "\\033[0m"
    assert server_text("x" * 250) == "x" * SERVER_TEXT_MAX + "…"
    assert server_text(42) == "42"


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_every_providers_error_message_is_escaped_and_capped(text: str) -> None:
    xml_code = text.replace("\udcff", "?")  # XML cannot carry a lone surrogate
    body = f"<?xml version='1.0'?><Error><Code>{xml_code.replace('&', '&amp;').replace('<', '&lt;')}</Code></Error>"
    errors = [
        azure_error(response(500, body.encode("utf-8", "surrogatepass"))),
        qingstor_error(response(500, json.dumps({"code": text, "message": text}).encode())),
        oas_error(response(500, json.dumps({"code": text, "message": text}).encode())),
    ]
    for error in errors:
        message = str(error)
        assert isinstance(error, RemoteError), error
        assert not CONTROL.search(message), repr(message[:200])
        assert len(message) < 4 * SERVER_TEXT_MAX + 40


def test_error_classes_still_follow_the_raw_code() -> None:
    """Escaping is for showing: a code is matched as the server sent it."""
    assert isinstance(qingstor_error(response(404, b'{"code": "bucket_not_exists"}')), NotFound)
    assert isinstance(qingstor_error(response(403, b'{"code": "permission_denied"}')), AccessDenied)
    azure = azure_error(response(403, b"", {"x-ms-error-code": "AuthenticationFailed\x07"}))
    assert isinstance(azure, AccessDenied) and str(azure) == "HTTP 403 AuthenticationFailed\\a"
