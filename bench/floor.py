"""The floor: a bare `requests` loop that fetches and parses the List Containers pages storfs fetches.

    BENCH_FLOOR_KEY=<key> python3 -m bench.floor --root-url URL --account A --expect N

Signed with storfs's own SharedKeyAuth and parsed with its parse_containers, in a process of
its own (so the counting proxy in the benchmark process does not share its GIL). Prints one
JSON object: {"seconds", "entries", "pages"} or {"error"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from urllib.parse import quote, urlencode

import requests

from storfs.providers.azure.parse import parse_containers
from storfs.providers.azure.signer import SharedKeyAuth

try:
    from storfs.providers.azure import API_VERSION
except ImportError:  # storfs mid-edit: the version storfs sent when the bench was written
    API_VERSION = "2020-10-02"


def list_all(session: requests.Session, root_url: str, auth: SharedKeyAuth, page_size: int, max_pages: int):
    entries = 0
    pages = 0
    cursor: str | None = None
    while pages < max_pages:
        query = [("comp", "list"), ("maxresults", str(page_size)), ("include", "metadata")]
        if cursor:
            query.append(("marker", cursor))
        response = session.get(
            root_url + "?" + urlencode(query, quote_via=quote),
            headers={"x-ms-version": API_VERSION, "Accept": "application/xml"},
            auth=auth,
            timeout=(5, 60),
        )
        response.raise_for_status()
        page = parse_containers(response.content)
        pages += 1
        entries += len(page.entries)
        cursor = page.next_cursor
        if not cursor:
            return entries, pages
    raise RuntimeError(f"more than {max_pages} pages")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root-url", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--page-size", type=int, default=5000)
    args = parser.parse_args()
    auth = SharedKeyAuth(args.account, os.environ["BENCH_FLOOR_KEY"])
    root_url = args.root_url.rstrip("/") + "/"
    max_pages = args.expect // args.page_size + 5
    try:
        with requests.Session() as session:
            start = time.perf_counter()
            entries, pages = list_all(session, root_url, auth, args.page_size, max_pages)
            seconds = time.perf_counter() - start
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps({"seconds": seconds, "entries": entries, "pages": pages}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
