"""NextPages: one request for a page wanted twice (its predecessor's parse and the listing)."""

from __future__ import annotations

import threading

import pytest

from storfs.errors import BadResponse
from storfs.names import shadowed_by_next
from storfs.next_pages import NextPages


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return f"answer {self.calls}"


def test_a_peek_is_taken_by_the_listings_fetch_once() -> None:
    pages: NextPages[str] = NextPages()
    get = Counter()
    assert pages.peek("listing", "m1", get) == "answer 1"
    assert pages.fetch("listing", "m1", get) == "answer 1"
    assert pages.fetch("listing", "m1", get) == "answer 2"  # taken: a refetch asks again
    assert get.calls == 2


def test_a_listings_fetch_serves_one_peek_and_never_another_fetch() -> None:
    pages: NextPages[str] = NextPages()
    get = Counter()
    assert pages.fetch("listing", "m1", get) == "answer 1"
    assert pages.peek("listing", "m1", get) == "answer 1"
    assert pages.peek("listing", "m1", get) == "answer 2"
    assert pages.fetch("other", "m1", get) == "answer 3"  # keyed by listing too
    assert pages.fetch("listing", None, get) == "answer 4"  # a first page is never kept


def test_failures_are_not_reused_and_answers_expire() -> None:
    now = [0.0]
    pages: NextPages[str] = NextPages(seconds=5, clock=lambda: now[0])

    def broken() -> str:
        raise OSError("down")

    with pytest.raises(OSError):
        pages.peek("listing", "m1", broken)
    get = Counter()
    assert pages.fetch("listing", "m1", get) == "answer 1"
    now[0] = 6.0
    assert pages.peek("listing", "m1", get) == "answer 2"
    for i in range(10):  # bounded: the oldest go first
        pages.peek("listing", f"k{i}", get)
    assert len(pages._answers) == pages.keep


def test_a_peek_joins_the_fetch_under_way() -> None:
    pages: NextPages[str] = NextPages()
    started, release = threading.Event(), threading.Event()
    get = Counter()

    def slow() -> str:
        started.set()
        release.wait(10)
        return get()

    result: list[str] = []
    fetcher = threading.Thread(target=lambda: result.append(pages.fetch("listing", "m1", slow)))
    fetcher.start()
    assert started.wait(10)
    threading.Timer(0.05, release.set).start()
    assert pages.peek("listing", "m1", get) == "answer 1"
    fetcher.join(10)
    assert result == ["answer 1"] and get.calls == 1


@pytest.mark.parametrize(
    ("keys", "more", "verdict"),
    [
        (["a/"], True, True),  # the prefix itself
        (["a/x"], False, True),  # a flat key below it
        (["a-1", "b"], True, False),  # a key sorting past every `a/...`
        (["a-1", "a.2"], False, False),  # the listing ends
        (["a-1", "a.2"], True, None),  # all before `a/`, more to come: cannot tell
        ([], True, None),
        ([], False, False),
    ],
)
def test_the_next_page_tells_whether_a_prefix_exists(
    keys: list[str], more: bool, verdict: bool | None
) -> None:
    assert shadowed_by_next(keys, more, "a/") is verdict


def test_a_prefix_check_asks_the_next_page_once_and_queries_only_what_it_cannot_tell() -> None:
    pages: NextPages[list[str]] = NextPages()
    fetched: list[str] = []
    asked: list[str] = []

    def get(cursor: str) -> list[str]:
        fetched.append(cursor)
        return ["a-1", "a.2", "b/"]

    def ask(prefix: str) -> bool:
        asked.append(prefix)
        return True

    check = pages.prefix_check("listing", "m1", get, lambda keys: (keys, True), ask)
    assert check("a/") is False  # `b/` sorts past every `a/...`
    assert check("b/") is True  # the next page holds it
    assert check("c/") is True  # sorts past the page's keys, more to come: asked on its own
    assert fetched == ["m1"] and asked == ["c/"]  # one peek for every object of the page
    assert pages.fetch("listing", "m1", lambda: ["refetched"]) == ["a-1", "a.2", "b/"]  # taken
    last = pages.prefix_check("listing", None, get, lambda keys: (keys, True), ask)
    assert last("z/") is True and asked == ["c/", "z/"] and fetched == ["m1"]  # no next page


def test_a_next_page_that_fails_leaves_the_decision_to_a_query() -> None:
    pages: NextPages[list[str]] = NextPages()

    def broken(cursor: str) -> list[str]:
        raise BadResponse("the next page is malformed")

    check = pages.prefix_check("listing", "m1", broken, lambda keys: (keys, True), lambda p: p == "a/")
    assert check("a/") is True and check("b/") is False
