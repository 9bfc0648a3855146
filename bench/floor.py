"""The floor: a bare `requests` loop over the List Containers pages storfs fetches.

    BENCH_FLOOR_KEY=<key> python3 -m bench.floor --root-url URL --account A --expect N

What any Python client must do at least: fetch the pages one after the other (marker paging is
sequential), parse each with a plain `xml.etree.ElementTree.fromstring`, and take every
container's name and the next marker. Nothing of storfs runs here but its SharedKey signer
(microseconds a request). It runs in a process of its own (so the counting proxy in the
benchmark process does not share its GIL) and times only the loop, not its start-up. Prints one
JSON object: {"seconds", "entries", "pages"} or {"error"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from urllib.parse import quote, urlencode
from xml.etree.ElementTree import fromstring

import requests

from storfs.providers.azure.signer import SharedKeyAuth

#: The x-ms-version storfs sends (storfs.providers.azure.API_VERSION when this was written).
API_VERSION = "2020-10-02"


def list_all(
    session: requests.Session, root_url: str, auth: SharedKeyAuth, page_size: int, max_pages: int
) -> tuple[int, int]:
    """(container names, pages) of the whole listing."""
    names: list[str] = []
    pages = 0
    marker: str | None = None
    while pages < max_pages:
        query = [("comp", "list"), ("maxresults", str(page_size)), ("include", "metadata")]
        if marker:
            query.append(("marker", marker))
        response = session.get(
            root_url + "?" + urlencode(query, quote_via=quote),
            headers={"x-ms-version": API_VERSION, "Accept": "application/xml"},
            auth=auth,
            timeout=(5, 60),
        )
        response.raise_for_status()
        root = fromstring(response.content)
        names += [name.text or "" for name in root.iterfind("Containers/Container/Name")]
        pages += 1
        marker = root.findtext("NextMarker")
        if not marker:
            return len(names), pages
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
            session.trust_env = False
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
