"""S3 error bodies -> errno-carrying errors, and the answers that name a bucket's real region."""

from __future__ import annotations

import requests

from storfs.errors import AccessDenied, NotFound, RemoteError, StorfsError
from storfs.providers.s3.parse import error_fields

NOT_FOUND_CODES = frozenset({"NoSuchBucket", "NoSuchUpload", "NoSuchKey"})
DENIED_CODES = frozenset(
    {
        "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
        "TokenRefreshRequired", "RequestTimeTooSkewed", "AllAccessDisabled", "AccountProblem",
        "InvalidSecurity", "InvalidObjectState", "NotSignedUp",
    }
)  # fmt: skip
#: Answers that mean "this bucket lives in another region" when they name one.
REGION_CODES = frozenset(
    {
        "PermanentRedirect",
        "TemporaryRedirect",
        "AuthorizationHeaderMalformed",
        "IllegalLocationConstraintException",
    }
)


class WrongRegion(RemoteError):
    """The bucket lives in `region`: the request is to be signed for it and sent there once more."""

    def __init__(self, message: str, region: str) -> None:
        super().__init__(message)
        self.region = region


class Unsupported(RemoteError):
    """The server does not know a parameter (an S3-compatible store without ListBuckets paging)."""


def decode_error(response: requests.Response) -> StorfsError:
    """Map an S3 XML error body to an errno-carrying error; the server's message is not kept."""
    fields = error_fields(response.content)
    code = fields.get("Code", "")[:64]
    status = response.status_code
    message = f"HTTP {status} {code or 'no error code'}"
    region = response.headers.get("x-amz-bucket-region") or fields.get("Region", "")
    if region and (code in REGION_CODES or status in (301, 307)):
        return WrongRegion(f"{message} (the bucket is in {region[:64]!r})", region)
    if code in NOT_FOUND_CODES or (not code and status == 404):
        return NotFound(message)
    if code in DENIED_CODES or status in (401, 403):
        return AccessDenied(message)
    if code in ("InvalidArgument", "NotImplemented") and status in (400, 501):
        return Unsupported(message)
    return RemoteError(message)
