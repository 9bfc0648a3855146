"""Provider registry: the provider name used in config tables and paths -> its class.

Adding a provider is one package under `storfs/providers/` and one line here; everything outside
this package learns about providers only by iterating over PROVIDERS.
"""

from __future__ import annotations

from storfs.providers.azure import AzureProvider
from storfs.providers.base import ListingKey, Provider
from storfs.providers.oas import OASProvider
from storfs.providers.qingstor import QingStorProvider
from storfs.providers.s3 import S3Provider
from storfs.redact import REDACTOR

PROVIDERS: dict[str, type[Provider]] = {
    AzureProvider.name: AzureProvider,
    OASProvider.name: OASProvider,
    QingStorProvider.name: QingStorProvider,
    S3Provider.name: S3Provider,
}

for _provider in PROVIDERS.values():
    REDACTOR.add_signature_patterns(_provider.signature_patterns)

__all__ = ["PROVIDERS", "ListingKey", "Provider"]
