"""Fixtures of the fault tests: a seeded Azurite a module, a fresh proxy and fake per test,
mounts stopped whatever happens, and a check that no test ever made storfs send a write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.backends import seed_azurite
from tests.fakes.azurite import Azurite
from tests.faults.tooling import KINDS, RECORDERS, Backend, FaultMount, make_backend, mutating_requests
from tests.harness import write_config

MountFactory = Callable[..., FaultMount]
MakeBackend = Callable[[str], Backend]


@pytest.fixture(scope="module")
def fault_azurite(azurite: Azurite) -> Azurite:
    """The module's Azurite holding the seed containers; tests never change its data."""
    return seed_azurite(azurite)


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


@pytest.fixture
def make(stack: ExitStack, request: pytest.FixtureRequest) -> MakeBackend:
    """`make("qingstor")`: a backend of that kind, stopped after the test."""

    def factory(kind: str) -> Backend:
        return make_backend(kind, stack, lambda: request.getfixturevalue("fault_azurite"))

    return factory


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, make: MakeBackend) -> Backend:
    return make(request.param)


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[MountFactory]:
    """`mounts({"qingstor.main": {...}}, args=("--debug",))` starts a mount; all stop afterwards."""
    started: list[FaultMount] = []

    def factory(
        tables: dict[str, dict[str, Any]],
        *,
        options: tuple[str, ...] = (),
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        start: bool = True,
    ) -> FaultMount:
        index = len(started)
        config = write_config(tmp_path / f"config{index}.toml", tables)
        config.chmod(0o600)
        m = FaultMount(config, tmp_path / f"mnt{index}", options=options, args=args, env=env)
        started.append(m)
        return m.start() if start else m

    try:
        yield factory
    finally:
        for m in reversed(started):
            m.stop()


@pytest.fixture(autouse=True)
def _only_get_and_head(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test: no proxy or fake it used received anything but GET or HEAD."""
    before = len(RECORDERS)
    yield
    mine = RECORDERS[before:]
    assert mutating_requests(mine) == {}, f"{request.node.name} made storfs send a mutating request"
