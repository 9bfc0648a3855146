"""Provider registry: the provider name used in config tables and paths -> its class."""

from __future__ import annotations

from storfs.providers.azure import AzureProvider
from storfs.providers.base import ListingKey, Provider

PROVIDERS: dict[str, type[Provider]] = {
    AzureProvider.name: AzureProvider,
}

__all__ = ["PROVIDERS", "ListingKey", "Provider"]
