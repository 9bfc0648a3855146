"""Answers that are not what the API documents: a clear EIO, one log line, and a listing that is
never taken as complete (once the fault clears, the next `ls` lists exactly the server's data)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.backends import PAGE, azure_page, qingstor_buckets, qingstor_uploads, s3_buckets, s3_uploads
from tests.faults.conftest import MakeBackend, MountFactory
from tests.faults.tooling import EIO_TEXT, Backend, LogWatch, timed
from tests.harness import run

MAX_PAGES = 20
CONFIG_CACHE = {"ttl": 300, "max_pages": MAX_PAGES}
HTTP = {"retries": 1, "backoff": 0.01, "deadline": 10.0}
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    b"<body><p>Please log in to use this network<br><form method=post></body></html>"
)

Arm = Callable[[Backend], None]


def canned(bodies: dict[str, bytes], content_type: str | None = None) -> Arm:
    """Answer the listing's first request with this kind's body (status 200)."""

    def arm(backend: Backend) -> None:
        backend.answer(bodies[backend.kind], times=3, content_type=content_type)

    return arm


def repeated_marker(backend: Backend) -> None:
    """Page 1 says 'more at M'; the page at M says 'more at M' again (served however often asked)."""
    backend.answer(backend.page([f"rep-{i}" for i in range(PAGE)], "zz-marker-M"))
    backend.answer(backend.page([f"rep-{i}" for i in range(PAGE, 2 * PAGE)], "zz-marker-M"), times=100)


def endless_cursor(backend: Backend) -> None:
    """Every page says there is more, at a marker never seen before."""
    for page in range(5 * MAX_PAGES):
        names = [f"loop-{page:03d}-{i}" for i in range(PAGE)]
        backend.answer(backend.page(names, f"zz-marker-{page + 1:04d}"))


def lying_count(count: int) -> Arm:
    """QingStor GET Service: the first page's `count` (the total) is a lie."""

    def arm(backend: Backend) -> None:
        backend.answer(qingstor_buckets(backend.names()[:PAGE], count=count))

    return arm


CASES: dict[str, tuple[tuple[str, ...], Arm]] = {
    "malformed": (
        ("azure", "qingstor", "qingstor-uploads", "oas", "s3", "s3-uploads"),
        canned(
            {
                "s3": b'<?xml version="1.0"?><ListAllMyBucketsResult><Buckets><Bucket><Name>x</Na',
                "s3-uploads": b"<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>u</Upl",
                "azure": b'<?xml version="1.0"?><EnumerationResults><Containers><Container><Name>x</Na',
                "qingstor": b'{"count": 1, "buckets": [{"name": "x", "location": "pek3a"',
                "qingstor-uploads": b'{"uploads": [{"key": "k", "upload_id": "u"}], "has_more": fal',
                "oas": b'{"Marker": "", "VaultList": [{"VaultName": "x"',
            }
        ),
    ),
    "html_with_200": (
        ("azure", "qingstor", "qingstor-uploads", "oas", "s3", "s3-uploads"),
        canned(
            dict.fromkeys(("azure", "qingstor", "qingstor-uploads", "oas", "s3", "s3-uploads"), HTML),
            "text/html",
        ),
    ),
    "missing_fields": (
        ("azure", "qingstor", "qingstor-uploads", "oas", "s3", "s3-uploads"),
        canned(
            {
                "s3": s3_buckets(
                    [], "", buckets="<Bucket><CreationDate>2019-12-11T23:32:47.000Z</CreationDate></Bucket>"
                ),
                "s3-uploads": s3_uploads([], "").replace(
                    b"</ListMultipartUploadsResult>",
                    b"<Upload><Key>k</Key></Upload></ListMultipartUploadsResult>",
                ),
                "azure": azure_page([], "", containers="<Container><Properties></Properties></Container>"),
                "qingstor": json.dumps({"count": 1, "buckets": [{"location": "pek3a"}]}).encode(),
                "qingstor-uploads": json.dumps({"uploads": [{"key": "k"}], "has_more": False}).encode(),
                "oas": json.dumps({"Marker": ""}).encode(),
            }
        ),
    ),
    "error_body_with_200": (
        ("azure", "qingstor", "qingstor-uploads", "oas", "s3", "s3-uploads"),
        canned(
            {
                "s3": b"<Error><Code>InternalError</Code><Message>x</Message></Error>",
                "s3-uploads": b"<Error><Code>InternalError</Code><Message>x</Message></Error>",
                "azure": b'<?xml version="1.0" encoding="utf-8"?><Error><Code>InternalError</Code>'
                b"<Message>x</Message></Error>",
                "qingstor": b'{"code":"internal_error","message":"x"}',
                "qingstor-uploads": b'{"code":"internal_error","message":"x"}',
                "oas": b'{"code":"InternalError","message":"x","type":"server"}',
            }
        ),
    ),
    "repeated_marker": (("azure", "qingstor-uploads", "oas", "s3", "s3-uploads"), repeated_marker),
    "endless_cursor": (("azure", "qingstor", "qingstor-uploads", "oas", "s3", "s3-uploads"), endless_cursor),
    "has_more_without_a_marker": (
        ("qingstor-uploads",),
        canned({"qingstor-uploads": qingstor_uploads(["u-1"], "", has_more=True)}),
    ),
    # has_more that is not a JSON bool once ended the listing after page 1, exit status 0.
    "has_more_as_a_string": (
        ("qingstor-uploads",),
        canned({"qingstor-uploads": qingstor_uploads(["u-1"], "key-u-1", has_more="true")}),
    ),
    "has_more_as_a_number": (
        ("qingstor-uploads",),
        canned({"qingstor-uploads": qingstor_uploads(["u-1"], "key-u-1", has_more=1)}),
    ),
    "has_more_null": (
        ("qingstor-uploads",),
        canned({"qingstor-uploads": qingstor_uploads(["u-1"], "key-u-1", has_more=None)}),
    ),
    # A short page while count says more remain was taken as the end of the listing.
    "short_page_with_a_larger_count": (
        ("qingstor",),
        canned({"qingstor": qingstor_buckets([f"entry-{i:03d}" for i in range(3)], count=37)}),
    ),
    "count_smaller_than_the_page": (
        ("qingstor",),
        canned({"qingstor": qingstor_buckets([f"entry-{i:03d}" for i in range(PAGE)], count=2)}),
    ),
    "documented_field_of_another_type": (
        ("azure", "qingstor", "qingstor-uploads", "oas"),
        canned(
            {
                "azure": azure_page(
                    [],
                    "",
                    containers="<Container><Name>x</Name><Properties><Etag><b/></Etag></Properties></Container>",
                ),
                "qingstor": json.dumps({"buckets": [{"name": "x", "created": 1436589957}]}).encode(),
                "qingstor-uploads": qingstor_uploads(
                    [], "", uploads=[{"key": "k", "upload_id": "u", "created": 5}]
                ),
                "oas": json.dumps(
                    {"Marker": "", "VaultList": [{"VaultName": "x", "SizeInBytes": "12 KB"}]}
                ).encode(),
            }
        ),
    ),
    "a_dtd_in_utf16": (
        ("azure",),
        canned(
            {
                "azure": '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE x [<!ENTITY a "a">]>'
                "<EnumerationResults><Containers/></EnumerationResults>".encode("utf-16")
            }
        ),
    ),
    "truncated_without_a_marker": (
        ("s3-uploads",),
        canned({"s3-uploads": s3_uploads(["u-1"], "", truncated=True)}),
    ),
}

PARAMS = [
    pytest.param(kind, case, id=f"{kind}-{case}") for case, (kinds, _) in CASES.items() for kind in kinds
]


@pytest.mark.parametrize(("kind", "case"), PARAMS)
def test_a_bad_answer_is_eio_one_log_line_and_never_a_complete_listing(
    make: MakeBackend, mounts: MountFactory, kind: str, case: str
) -> None:
    backend = make(kind)
    m = mounts({f"{backend.provider}.main": backend.table(), "cache": CONFIG_CACHE, "http": HTTP})
    backend.prime(m)
    before = backend.list_requests()
    watch = LogWatch(m)
    CASES[case][1](backend)

    result = timed(["ls", str(backend.listing(m))], timeout=60)
    assert result.returncode != 0, f"{case} was listed as: {result.stdout.split()[:10]}..."
    assert EIO_TEXT in result.stderr, result.stderr
    assert result.seconds < 20
    requests = backend.list_requests() - before
    assert requests <= MAX_PAGES + 5, f"{requests} list requests for one ls: the page budget is {MAX_PAGES}"
    problems = watch.problems()
    assert len(problems) == 1, "expected exactly one log line:\n" + "\n".join(problems)
    assert "Traceback" not in watch.text()
    assert m.alive

    backend.proxy.clear_failures()
    again = timed(["ls", str(backend.listing(m))], timeout=60)
    assert again.returncode == 0, again.stderr
    assert sorted(again.stdout.splitlines()) == backend.names(), "the listing kept what the fault served"
    assert run(["ls", str(backend.listing(m))]).stdout == again.stdout


def test_a_count_larger_than_the_listing_on_a_full_page_still_ends_by_the_stop_rule(
    make: MakeBackend, mounts: MountFactory
) -> None:
    """QingStor's `count` may be a page or a total. A full first page saying 1000 reveals a few
    pages ahead (never 200 of them); the server's own short last page then ends the listing."""
    backend = make("qingstor")
    m = mounts({f"{backend.provider}.main": backend.table(), "cache": CONFIG_CACHE, "http": HTTP})
    backend.prime(m)
    before = backend.list_requests()
    watch = LogWatch(m)
    lying_count(1000)(backend)
    result = timed(["ls", str(backend.listing(m))], timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == backend.names()
    requests = backend.list_requests() - before
    assert requests <= len(backend.names()) // PAGE + 1 + 4, f"{requests} requests for 37 buckets"
    problems = watch.problems()
    assert len(problems) <= 1 and all("count" in line for line in problems), "\n".join(problems)
