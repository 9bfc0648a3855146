"""Provider registry: the provider name used in config tables and paths -> its class."""

from __future__ import annotations

from storfs.providers.azure import AzureProvider
from storfs.providers.base import ListingKey, Provider
from storfs.providers.oas import OASProvider
from storfs.providers.qingstor import QingStorProvider

PROVIDERS: dict[str, type[Provider]] = {
    AzureProvider.name: AzureProvider,
    OASProvider.name: OASProvider,
    QingStorProvider.name: QingStorProvider,
}

__all__ = ["PROVIDERS", "ListingKey", "Provider"]
