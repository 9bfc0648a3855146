"""The OAS signer against vectors O-1..O-5 of providers.md 2.4."""

from __future__ import annotations

import email.utils

import pytest
import requests

from storfs.providers.oas.signer import OASAuth, canonical_resource, string_to_sign

KEY_ID = "EXAMPLEOASACCESSKEY01"
SECRET = "EXAMPLEoasSECRETkey0000000000001"
DATE = "Tue, 25 Mar 2014 12:00:00 GMT"
CLOCK = email.utils.parsedate_to_datetime(DATE).timestamp()
HOST = "https://cn-hangzhou.oas.aliyuncs.com"
MARKER = "FDD2D8F33B7C287037286185863B68D3"

# (id, request target, x-oas-version, string_to_sign, Authorization)
VECTORS = [
    (
        "O-1",
        "/vaults",
        "0.2.5",
        f"GET\n{DATE}\nx-oas-version:0.2.5\n/vaults",
        "OAS EXAMPLEOASACCESSKEY01:5Q9/01VZamD8y48wsYYYsCmT14Q=",
    ),
    (
        "O-2",
        "/vaults?limit=2",
        "0.2.5",
        f"GET\n{DATE}\nx-oas-version:0.2.5\n/vaults?limit=2",
        "OAS EXAMPLEOASACCESSKEY01:afbO3GmY8zT9pnqudwncsmYvL8Q=",
    ),
    (
        "O-3",
        f"/vaults?marker={MARKER}&limit=2",
        "0.2.5",
        f"GET\n{DATE}\nx-oas-version:0.2.5\n/vaults?limit=2&marker={MARKER}",
        "OAS EXAMPLEOASACCESSKEY01:ahtJ62TwhE089Ip1i3qX313uCso=",
    ),
    (
        "O-4",
        "/vaults",
        "2014-01-01",
        f"GET\n{DATE}\nx-oas-version:2014-01-01\n/vaults",
        "OAS EXAMPLEOASACCESSKEY01:dXo/Bz6kEGvmY5g8eRFbtIr+3xE=",
    ),
    (
        "O-5",
        f"/vaults?limit=2&marker={MARKER}",
        "2014-01-01",
        f"GET\n{DATE}\nx-oas-version:2014-01-01\n/vaults?limit=2&marker={MARKER}",
        "OAS EXAMPLEOASACCESSKEY01:uS+UgUl8aYAsaQDkvy5JMySIytQ=",
    ),
]
IDS = [v[0] for v in VECTORS]


@pytest.mark.parametrize(("vid", "target", "version", "expected", "auth"), VECTORS, ids=IDS)
def test_string_to_sign(vid: str, target: str, version: str, expected: str, auth: str) -> None:
    headers = {"Date": DATE, "X-OAS-Version": version, "Accept": "application/json"}
    assert string_to_sign("get", HOST + target, headers) == expected


@pytest.mark.parametrize(("vid", "target", "version", "expected", "auth"), VECTORS, ids=IDS)
def test_authorization_header(vid: str, target: str, version: str, expected: str, auth: str) -> None:
    signer = OASAuth(KEY_ID, SECRET, clock=lambda: CLOCK)
    request = requests.Request("GET", HOST + target, headers={"x-oas-version": version}, auth=signer)
    prepared = request.prepare()
    assert prepared.headers["Date"] == DATE
    assert prepared.headers["Authorization"] == auth
    assert prepared.url == HOST + target  # signing never rewrites what is sent


def test_existing_date_header_is_kept() -> None:
    signer = OASAuth(KEY_ID, SECRET, clock=lambda: 0.0)
    headers = {"x-oas-version": "2014-01-01", "Date": DATE}
    prepared = requests.Request("GET", HOST + "/vaults", headers=headers, auth=signer).prepare()
    assert prepared.headers["Date"] == DATE
    assert prepared.headers["Authorization"] == VECTORS[3][4]


def test_only_oas_headers_are_signed_unaltered_and_sorted() -> None:
    headers = {"Date": DATE, "x-oas-b": "2", "X-Oas-A": "1 ", "Content-Type": "text/plain"}
    assert string_to_sign("GET", HOST + "/vaults", headers) == f"GET\n{DATE}\nx-oas-a:1 \nx-oas-b:2\n/vaults"


def test_canonical_resource_decodes_and_skips_unsigned_params() -> None:
    assert canonical_resource(HOST + "/vaults?foo=1&marker=a%2Bb&limit=3&uploads") == (
        "/vaults?limit=3&marker=a+b&uploads"
    )
    assert canonical_resource(HOST) == "/"


def test_repr_hides_the_secret() -> None:
    assert SECRET not in repr(OASAuth(KEY_ID, SECRET))
