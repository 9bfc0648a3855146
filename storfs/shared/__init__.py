"""Shared listing cache: a fleet of mounts shares listing pages through Redis (`[cache] shared`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from storfs.stats import Stats

if TYPE_CHECKING:
    from storfs.config import Config
    from storfs.shared.pages import SharedPages


def from_config(config: Config, stats: Stats, env: Mapping[str, str] = os.environ) -> SharedPages | None:
    """The shared cache `[cache] shared` names, or None when it is off (the default).

    Raises ConfigError for an unusable URL or an unset `shared_password_env`; never for an outage.
    """
    if not config.cache.shared:
        return None
    from storfs.shared.pages import connect  # imports redis only for mounts that share

    return connect(
        config.cache.shared,
        password_env=config.cache.shared_password_env,
        env=env,
        ttl=config.cache.ttl,
        deadline=config.http.deadline,
        stats=stats,
    )
