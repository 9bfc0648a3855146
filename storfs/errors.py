"""One exception family: every error storfs raises carries the errno a FUSE call answers."""

from __future__ import annotations

import errno


class StorfsError(OSError):
    """Base class; subclasses fix the errno, the message says what happened and where."""

    errno_code = errno.EIO

    def __init__(self, message: str) -> None:
        super().__init__(self.errno_code, message)

    def __str__(self) -> str:
        return str(self.strerror)


class NotFound(StorfsError):
    errno_code = errno.ENOENT


class NotADirectory(StorfsError):
    errno_code = errno.ENOTDIR


class AccessDenied(StorfsError):
    errno_code = errno.EACCES


class RemoteError(StorfsError):
    """The provider failed (5xx after retries, unreachable, unexpected status)."""

    errno_code = errno.EIO


class BadResponse(RemoteError):
    """The provider answered something that is not what its API documents."""


class PagingError(BadResponse):
    """A listing's cursor repeated or its page budget ran out."""


class ChangedSinceListing(StorfsError):
    """The object's ETag is not the one listed (or If-Match failed, 412): its bytes would mix two
    versions (EIO)."""


class RemoteTimeout(StorfsError):
    errno_code = errno.ETIMEDOUT


class ReadOnly(StorfsError):
    errno_code = errno.EROFS


class NotSupported(StorfsError):
    errno_code = errno.EOPNOTSUPP


class ConfigError(Exception):
    """A configuration problem; the message names the key or flag to change."""
