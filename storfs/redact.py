"""Keep secrets out of every log line, whoever writes it (storfs, urllib3, mfusepy)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote

_PATTERNS = (
    re.compile(r"(?i)(\bsig=)[^&\s\"']+"),
    re.compile(r"(?i)(\bauthorization['\"]?\s*[:=]\s*['\"]?)[^'\"\n]+"),
)
#: What follows an Authorization scheme a provider registers (`SharedKey account:`): the signature.
_SIGNATURE = r"[A-Za-z0-9+/=]{16,}"
MASK = "***"
#: Inside connection strings and SAS tokens, the parts that are secret by themselves.
_SECRET_PARTS = frozenset({"sig", "accountkey", "sharedaccesssignature"})


class Redactor(logging.Filter):
    """A handler filter that replaces known secrets and signature-shaped text with `***`."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._patterns = list(_PATTERNS)
        self._lock = threading.Lock()

    def add_signature_patterns(self, fragments: Iterable[str]) -> None:
        """Mask what follows each Authorization scheme prefix (regex fragments, from the providers)."""
        with self._lock:
            self._patterns += [re.compile(rf"(?i)(\b(?:{fragment})){_SIGNATURE}") for fragment in fragments]

    def add(self, secret: str) -> None:
        """Remember a secret, its URL-encoded forms, and the values inside `a=b;c=d&e=f` text."""
        candidates = {secret}
        for part in re.split(r"[;&]", secret):
            name, sep, value = part.partition("=")
            if sep and name.strip().lower() in _SECRET_PARTS:
                candidates.add(value)
        with self._lock:
            for candidate in candidates:
                if len(candidate) >= 4:
                    self._secrets |= {candidate, quote(candidate, safe=""), quote(candidate)}

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
            patterns = list(self._patterns)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern in patterns:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        cleaned = self.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


#: The process's redactor: secrets are added as the config is read; cli installs it on handlers.
REDACTOR = Redactor()
