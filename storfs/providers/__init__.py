"""Provider registry: the provider name used in config tables and paths -> its class."""

from __future__ import annotations

from storfs.providers.azure import AzureProvider
from storfs.providers.base import ListingKey, Provider
from storfs.providers.oas import OASProvider
from storfs.providers.qingstor import QingStorProvider
from storfs.providers.s3 import S3Provider

PROVIDERS: dict[str, type[Provider]] = {
    AzureProvider.name: AzureProvider,
    OASProvider.name: OASProvider,
    QingStorProvider.name: QingStorProvider,
    S3Provider.name: S3Provider,
}

__all__ = ["PROVIDERS", "ListingKey", "Provider"]
