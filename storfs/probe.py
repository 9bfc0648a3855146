"""One cheap authenticated call per account, so a mount says at once which accounts will fail."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor, wait

from storfs.config import AccountConfig, Config
from storfs.transport import HttpSettings

#: The most the probe waits on any account, retries included.
DEADLINE = 10.0


def probe_http(http: HttpSettings, deadline: float = DEADLINE) -> HttpSettings:
    """`http` bounded for a quick check: at most `deadline` seconds and one retry."""
    return dataclasses.replace(
        http,
        deadline=min(http.deadline, deadline),
        connect_timeout=min(http.connect_timeout, deadline),
        read_timeout=min(http.read_timeout, deadline),
        retries=min(http.retries, 1),
    )


def failing_accounts(config: Config, deadline: float = DEADLINE) -> list[tuple[AccountConfig, Exception]]:
    """Accounts whose first top-level listing fails: one page of one entry each, all at once.

    An account that has not answered within `deadline` (plus a second) counts as timed out; its
    request is left to finish on its own.
    """
    http = probe_http(config.http, deadline)
    if not config.accounts:
        return []
    pool = ThreadPoolExecutor(min(8, len(config.accounts)), thread_name_prefix="storfs-probe")
    futures = {pool.submit(_probe, config, account, http): account for account in config.accounts}
    done, _ = wait(futures, timeout=http.deadline + 1.0)
    pool.shutdown(wait=False, cancel_futures=True)
    failed: list[tuple[AccountConfig, Exception]] = []
    for future, account in futures.items():
        if future not in done:
            failed.append((account, TimeoutError(f"no answer within {http.deadline:g}s")))
        elif future.exception() is not None:
            error = future.exception()
            assert isinstance(error, Exception)
            failed.append((account, error))
    return failed


def _probe(config: Config, account: AccountConfig, http: HttpSettings) -> None:
    smallest = dataclasses.replace(account, settings={**account.settings, "page_size": 1})
    provider = config.provider(smallest, http)
    try:
        for key in provider.top_level().values():
            provider.list_page(key, None)
            return
    finally:
        provider.close()
