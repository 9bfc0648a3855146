"""The mount-time probe against the fake servers: one page of one entry per account, in parallel."""

from __future__ import annotations

import time
from pathlib import Path

from storfs import config, probe
from storfs.errors import AccessDenied, RemoteError
from tests.fakes.oas_server import OASServer
from tests.fakes.qingstor_server import QingStorServer


def test_one_small_request_per_account_and_only_failures_returned(tmp_path: Path) -> None:
    with QingStorServer() as qs, OASServer() as oas:
        qs.add_bucket("b1")
        qs.add_bucket("b2")
        oas.add_vault("v1")
        qs_table = {
            "access_key_id": qs.access_key_id,
            "secret_access_key": qs.secret_access_key,
            "endpoint": qs.url,
        }
        oas_table = {
            "access_key_id": oas.access_key_id,
            "access_key_secret": oas.access_key_secret,
            "endpoint": oas.url,
        }
        tables = {
            "qingstor": {"good": qs_table, "wrong": {**qs_table, "secret_access_key": "not-the-secret"}},
            "oas": {"good": oas_table, "dead": {**oas_table, "endpoint": "http://127.0.0.1:9"}},
            "http": {"retries": 3, "backoff": 0.01, "deadline": 5.0},
        }
        cfg = config.parse(tables, {}, tmp_path / "c.toml")
        started = time.monotonic()
        failed = probe.failing_accounts(cfg)
        elapsed = time.monotonic() - started
        qs_queries = [dict(r.query) for r in qs.requests]
        oas_queries = [dict(r.query) for r in oas.requests]
    assert elapsed < 5.0, "bounded by the deadline"
    errors = {f"{a.provider}/{a.account}": type(e) for a, e in failed}
    assert errors == {"qingstor/wrong": AccessDenied, "oas/dead": RemoteError}
    assert len(qs_queries) == 2 and all(q["limit"] == "1" for q in qs_queries)
    assert len(oas_queries) == 1 and oas_queries[0]["limit"] == "1", "a page of one entry, signed as sent"
