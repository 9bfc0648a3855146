"""SharedKey signing pinned to providers.md §3.6 vectors and to azure-storage-blob's own signer."""

from __future__ import annotations

import base64
from email.utils import parsedate_to_datetime

import pytest
import requests
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.rest import HttpRequest
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

from storfs.providers.azure import parse_connection_string
from storfs.providers.azure.signer import SasAuth, SharedKeyAuth, sign, string_to_sign

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DATE = "Wed, 26 Oct 2016 22:08:44 GMT"

VECTORS = [
    (
        "AZ-1",
        "http://127.0.0.1:10000/devstoreaccount1?comp=list",
        {"x-ms-date": DATE, "x-ms-version": "2020-10-02"},
        "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Wed, 26 Oct 2016 22:08:44 GMT\nx-ms-version:2020-10-02\n"
        "/devstoreaccount1/devstoreaccount1\ncomp:list",
        "soZrM7W03b+vf6rqnNvqCWgxckp7nEEjPcSgCpeCd7A=",
    ),
    (
        "AZ-2",
        "http://127.0.0.1:10000/devstoreaccount1/?comp=list&maxresults=2&prefix=img&marker=images"
        "&include=metadata,deleted,system",
        {"x-ms-date": DATE, "x-ms-version": "2020-10-02"},
        "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Wed, 26 Oct 2016 22:08:44 GMT\nx-ms-version:2020-10-02\n"
        "/devstoreaccount1/devstoreaccount1/\ncomp:list\ninclude:metadata,deleted,system\nmarker:images\n"
        "maxresults:2\nprefix:img",
        "aXr1S7qoxKA/4xdDrEl/WAsiLhkYAm5zUuFEi7IAZaM=",
    ),
    (
        "AZ-3",
        "https://devstoreaccount1.blob.core.windows.net/?comp=list&maxresults=3",
        {"x-ms-date": DATE, "x-ms-version": "2016-05-31"},
        "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Wed, 26 Oct 2016 22:08:44 GMT\nx-ms-version:2016-05-31\n"
        "/devstoreaccount1/\ncomp:list\nmaxresults:3",
        "ij5R7/H2HB39mh4srdpJQemdNdSHCDr+A7XK5OX70/k=",
    ),
    (
        "AZ-4",
        "https://devstoreaccount1.blob.core.windows.net/?comp=list",
        {"Date": DATE, "x-ms-version": "2020-10-02"},
        "GET\n\n\n\n\n\nWed, 26 Oct 2016 22:08:44 GMT\n\n\n\n\n\nx-ms-version:2020-10-02\n/devstoreaccount1/\ncomp:list",
        "UKe1n4ZZfK+91HrSPSc/wWDv2gkZDDM+Gl8a/PzFzF0=",
    ),
    (
        "AZ-5",
        "http://127.0.0.1:10000/devstoreaccount1/?comp=list&maxresults=3&include=",
        {
            "x-ms-date": DATE,
            "x-ms-version": "2021-08-06",
            "x-ms-client-request-id": "00000000-0000-0000-0000-000000000001",
            "Accept": "application/xml",
        },
        "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-client-request-id:00000000-0000-0000-0000-000000000001\n"
        "x-ms-date:Wed, 26 Oct 2016 22:08:44 GMT\nx-ms-version:2021-08-06\n"
        "/devstoreaccount1/devstoreaccount1/\ncomp:list\ninclude:\nmaxresults:3",
        "vLs1t5KfVHATLq7+OBspaVlEUtO4l6D0GpzleKI2rFM=",
    ),
]


@pytest.mark.parametrize(
    ("vid", "url", "headers", "expected", "signature"), VECTORS, ids=[v[0] for v in VECTORS]
)
def test_string_to_sign_and_signature_match_published_vectors(vid, url, headers, expected, signature) -> None:
    assert string_to_sign("GET", url, headers, ACCOUNT) == expected
    assert sign(base64.b64decode(KEY), expected) == signature


@pytest.mark.parametrize(
    ("vid", "url", "headers", "expected", "signature"), VECTORS, ids=[v[0] for v in VECTORS]
)
def test_auth_base_signs_the_prepared_request(vid, url, headers, expected, signature) -> None:
    prepared = requests.Request("GET", url, headers=headers, auth=SharedKeyAuth(ACCOUNT, KEY)).prepare()
    assert prepared.headers["Authorization"] == f"SharedKey {ACCOUNT}:{signature}"


def sdk_authorization(url: str, headers: dict[str, str]) -> str:
    request = PipelineRequest(HttpRequest("GET", url, headers=headers), PipelineContext(None))
    SharedKeyCredentialPolicy(ACCOUNT, KEY).on_request(request)
    return request.http_request.headers["Authorization"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:10000/devstoreaccount1/?comp=list&maxresults=5000&include=metadata",
        "http://127.0.0.1:10000/devstoreaccount1/?comp=list&maxresults=100&include=metadata&marker=logs-0100",
        "https://myaccount.blob.core.windows.net/?comp=list&marker=a%20b%2Fc&maxresults=1",
    ],
)
def test_matches_the_sdk_signer_for_storfs_requests(url: str) -> None:
    headers = {"x-ms-date": DATE, "x-ms-version": "2020-10-02"}
    ours = requests.Request("GET", url, headers=headers, auth=SharedKeyAuth(ACCOUNT, KEY)).prepare()
    assert ours.headers["Authorization"] == sdk_authorization(url, headers)


def test_auth_dates_requests_with_its_clock() -> None:
    auth = SharedKeyAuth(ACCOUNT, KEY, clock=lambda: parsedate_to_datetime(DATE).timestamp())
    prepared = requests.Request(
        "GET", VECTORS[0][1], headers={"x-ms-version": "2020-10-02"}, auth=auth
    ).prepare()
    assert prepared.headers["x-ms-date"] == DATE
    assert prepared.headers["Authorization"].endswith(VECTORS[0][4])
    assert KEY not in repr(auth)


def test_sas_is_appended_to_the_query() -> None:
    prepared = requests.Request("GET", "http://h/acct/?comp=list", auth=SasAuth("?sv=1&sig=abc")).prepare()
    assert prepared.url == "http://h/acct/?comp=list&sv=1&sig=abc"
    assert "Authorization" not in prepared.headers


def test_connection_strings() -> None:
    assert parse_connection_string(
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=k==;EndpointSuffix=core.chinacloudapi.cn"
    ) == {"account": "acct", "key": "k==", "endpoint": "https://acct.blob.core.chinacloudapi.cn"}
    assert parse_connection_string("UseDevelopmentStorage=true")["endpoint"] == (
        "http://127.0.0.1:10000/devstoreaccount1"
    )
    assert parse_connection_string("BlobEndpoint=http://x/y;SharedAccessSignature=sv=1&sig=2") == {
        "sas": "sv=1&sig=2",
        "endpoint": "http://x/y",
    }
