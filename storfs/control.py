"""The virtual `/.storfs/` directory: read-only files that storfs writes about itself."""

from __future__ import annotations

import json
from collections.abc import Callable

DIR_NAME = ".storfs"
DIR_PATH = "/" + DIR_NAME


class Control:
    """Files under `/.storfs/`, each rendered afresh when opened. Not listed in `/`.

    A file whose render answers None does not exist at the moment (`socket` while not serving).
    """

    def __init__(self, files: dict[str, Callable[[], bytes | None]]) -> None:
        self._files = files

    @staticmethod
    def owns(path: str) -> bool:
        return path == DIR_PATH or path.startswith(DIR_PATH + "/")

    def names(self) -> list[str]:
        return sorted(name for name, render in self._files.items() if render() is not None)

    def is_dir(self, path: str) -> bool:
        return path.rstrip("/") == DIR_PATH

    def render(self, path: str) -> bytes | None:
        """The current content of the file at `path`, or None if there is no such file."""
        name = path[len(DIR_PATH) + 1 :]
        render = self._files.get(name)
        return None if render is None else render()


def json_file(snapshot: Callable[[], object]) -> Callable[[], bytes]:
    return lambda: (json.dumps(snapshot(), indent=2, sort_keys=False) + "\n").encode()
