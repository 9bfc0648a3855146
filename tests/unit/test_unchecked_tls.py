"""verify_tls = false is said once, by storfs, not by urllib3 on every request."""

from __future__ import annotations

import logging
import warnings

import pytest
import urllib3

from storfs.transport import HttpSettings, make_session


def test_unchecked_tls_is_one_warning_of_storfs_and_none_per_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="storfs.transport"):
        make_session(HttpSettings())
        assert not caplog.records  # checked TLS: nothing to say
        make_session(HttpSettings(verify_tls=False))
    assert [r.getMessage() for r in caplog.records] == [
        "TLS certificates are not checked (verify_tls = false)"
    ]
    with warnings.catch_warnings(record=True) as seen:
        warnings.warn("Unverified HTTPS request", urllib3.exceptions.InsecureRequestWarning, stacklevel=1)
    assert seen == []
