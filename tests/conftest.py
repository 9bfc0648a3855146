"""Shared fixtures: Azurite, request-counting proxies and real storfs mounts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.azurite import Azurite
from tests.harness import Mount, write_config

MountFactory = Callable[..., Mount]


AZURITE_ACCOUNTS = 200  # more than the modules one test process (an xdist worker) runs


@pytest.fixture(scope="session")
def azurite_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """The one Azurite of this test process, on a free loopback port; use `azurite`."""
    with Azurite(tmp_path_factory.mktemp("azurite"), accounts=AZURITE_ACCOUNTS) as server:
        yield server


@pytest.fixture(scope="module")
def azurite(azurite_process: Azurite) -> Azurite:
    """An Azurite of this module's own: an account of the one process that no one has used."""
    return azurite_process.fresh_account()


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[MountFactory]:
    """`mount({"azure.dev": {...}})` mounts storfs with that config; all are stopped afterwards."""
    mounts: list[Mount] = []

    def factory(tables: dict[str, dict[str, Any]], *, options: tuple[str, ...] = (), env=None) -> Mount:
        index = len(mounts)
        config = write_config(tmp_path / f"config{index}.toml", tables)
        m = Mount(config, tmp_path / f"mnt{index}", options=options, env=env)
        mounts.append(m)
        return m.start()

    try:
        yield factory
    finally:
        for m in mounts:
            m.stop()
