"""Aliyun OAS (Open Archive Service, API 2014-01-01): ListVaults under `/oas/<account>/vaults/`."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from storfs.entry import Page
from storfs.errors import ConfigError, NotFound, StorfsError
from storfs.providers.base import ListingKey, Provider
from storfs.providers.common import ErrorTable, credential_fingerprint, endpoint, required_string
from storfs.providers.oas.parse import WHAT, parse_vaults
from storfs.providers.oas.signer import OASAuth
from storfs.transport import HttpSettings

log = logging.getLogger(__name__)

API_VERSION = "2014-01-01"
DEFAULT_ENDPOINT = "https://cn-hangzhou.oas.aliyuncs.com"
VAULTS = "vaults"
#: The variables `oas/default` comes from: Alibaba Cloud's usual pair, and where the API is.
DISCOVERY_VARIABLES = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "STORFS_OAS_ENDPOINT",
)


class OASProvider(Provider):
    name = "oas"
    config_keys = frozenset({"access_key_id", "access_key_secret", "endpoint"})
    secret_keys = frozenset({"access_key_secret"})
    max_page_size = 10  # ListVaults treats a larger `limit` as 10
    signature_patterns = (r"OAS [^:\s]+:",)
    credential_keys = ("access_key_id", "access_key_secret")
    endpoint_keys = ("endpoint",)
    discovery_help = ", ".join(DISCOVERY_VARIABLES[:-1]) + " and " + DISCOVERY_VARIABLES[-1]

    @classmethod
    def discover(cls, env: Mapping[str, str], home: Path) -> list[tuple[dict[str, Any], str]]:
        key_id, secret, endpoint_variable = DISCOVERY_VARIABLES
        if not env.get(endpoint_variable):
            return []  # the Alibaba Cloud pair alone is there for other tools too
        missing = [name for name in DISCOVERY_VARIABLES if not env.get(name)]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            raise ConfigError(f"{endpoint_variable} is set, but {' and '.join(missing)} {verb} not")
        table = {
            "access_key_id": env[key_id],
            "access_key_secret_env": secret,
            "endpoint": env[endpoint_variable],
        }
        return [(table, "environment: " + ", ".join(DISCOVERY_VARIABLES))]

    def __init__(
        self,
        account: str,
        settings: Mapping[str, Any],
        http: HttpSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(account, settings, http)
        where = f"[oas.{account}]"
        access_key_id = required_string(settings, "access_key_id", where)
        access_key_secret = required_string(settings, "access_key_secret", where, secret=True)
        raw_endpoint = settings.get("endpoint", DEFAULT_ENDPOINT)
        self.root_url = endpoint(raw_endpoint, where, "endpoint", DEFAULT_ENDPOINT)
        self._auth = OASAuth(access_key_id, access_key_secret, clock)
        self._identity = f"oas {self.root_url} {access_key_id} {credential_fingerprint(access_key_secret)}"

    def top_level(self) -> dict[str, ListingKey]:
        return {VAULTS: self.key(VAULTS)}

    def cache_identity(self) -> str:
        return self._identity

    def list_page(self, key: ListingKey, cursor: str | None) -> Page:
        if key.kind != VAULTS:
            raise NotFound(f"{self.label}: no listing {key.kind!r}")
        # Written exactly as `limit` then `marker`: the [inferred] canonical resource then signs
        # the very text sent (see signer.py).
        url = f"{self.root_url}/vaults?limit={self.page_size}"
        if cursor:
            url += "&marker=" + quote(cursor, safe="")
        request = requests.Request(
            "GET",
            url,
            headers={"x-oas-version": API_VERSION, "Accept": "application/json"},
            auth=self._auth,
        )
        prepared = self.session.prepare_request(request)
        response = self.get(prepared, op="list_vaults", what=f"{self.label} {WHAT}")
        return parse_vaults(response.content)

    @staticmethod
    def decode_error(response: requests.Response) -> StorfsError:
        return decode_error(response)


# ---------------------------------------------------------------------------------------------
# [inferred] Error mapping (providers.md 2.6). No list of OAS error codes was found; only 403 for
# a bad signature or clock skew is documented. Map by HTTP status alone; the JSON `code` is only
# shown in the message. 5xx (and 429) were already retried by the session before we get here.
ERRORS = ErrorTable()
# --------------------------------------------------------------------------- end of [inferred]

_ERROR_CODE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def decode_error(response: requests.Response) -> StorfsError:
    """Map an OAS error response to an errno-carrying error (never echoing auth details)."""
    return ERRORS.error(response.status_code, _error_code(response.content))


def _error_code(body: bytes) -> str | None:
    """The `code` of a `{code, message, type}` body, if it looks like an error code at all.

    The server's `message` is never shown: it is free text we cannot vouch for.
    """
    try:
        code = json.loads(body).get("code")
    except Exception:  # any unparsable or non-object body: the status alone still says enough
        return None
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None
