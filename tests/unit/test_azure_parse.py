"""List Containers XML parsing: the seed's shape, Azurite's quirks, and malformed input."""

from __future__ import annotations

import pytest

from storfs.errors import BadResponse
from storfs.providers.azure.parse import parse_containers, snake_case

SEED_PAGE = b"""<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="https://myaccount.blob.core.windows.net">
  <Prefix/><MaxResults>3</MaxResults>
  <Containers>
    <Container>
      <Name>audio</Name>
      <Properties>
        <Last-Modified>Wed, 26 Oct 2016 20:39:39 GMT</Last-Modified>
        <Etag>"0x8CACB9BD7C6B1B2"</Etag>
        <LeaseStatus>unlocked</LeaseStatus>
        <LeaseState>available</LeaseState>
        <PublicAccess>container</PublicAccess>
        <HasImmutabilityPolicy>false</HasImmutabilityPolicy>
        <HasLegalHold>false</HasLegalHold>
        <DefaultEncryptionScope>$account-encryption-key</DefaultEncryptionScope>
      </Properties>
      <Metadata><owner>ops</owner><x-ms-invalid-name>bad name</x-ms-invalid-name></Metadata>
    </Container>
    <Container><Name>images</Name><Properties><Last-Modified>not a date</Last-Modified></Properties></Container>
  </Containers>
  <NextMarker>video</NextMarker>
</EnumerationResults>"""


def test_seed_page() -> None:
    page = parse_containers(SEED_PAGE)
    assert page.next_cursor == "video"
    audio, images = page.entries
    assert audio.name == "audio" and audio.is_dir
    assert audio.mtime == 1477514379.0
    assert dict(audio.xattrs()) == {
        "user.azure.last_modified": "Wed, 26 Oct 2016 20:39:39 GMT",
        "user.azure.etag": "0x8CACB9BD7C6B1B2",
        "user.azure.lease_status": "unlocked",
        "user.azure.lease_state": "available",
        "user.azure.public_access": "container",
        "user.azure.has_immutability_policy": "false",
        "user.azure.has_legal_hold": "false",
        "user.azure.default_encryption_scope": "$account-encryption-key",
        "user.azure.meta.owner": "ops",
    }
    # A date that does not parse: the entry stays, with its raw value; private when unsaid.
    assert images.mtime == 0.0
    assert images.xattr("user.azure.last_modified") == "not a date"
    assert images.xattr("user.azure.public_access") == "private"


def test_empty_next_marker_ends_the_listing() -> None:
    page = parse_containers(b"<EnumerationResults><Containers/><NextMarker/></EnumerationResults>")
    assert (page.entries, page.next_cursor) == ([], None)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<EnumerationResults><Containers>",
        b"<Error><Code>InternalError</Code></Error>",
        b"<EnumerationResults><Containers><Container><Properties/></Container></Containers></EnumerationResults>",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><EnumerationResults>&a;</EnumerationResults>',
    ],
    ids=["empty", "truncated", "error-body", "no-name", "entities"],
)
def test_malformed_bodies_are_bad_responses(body: bytes) -> None:
    with pytest.raises(BadResponse):
        parse_containers(body)


def test_snake_case() -> None:
    assert snake_case("Last-Modified") == "last_modified"
    assert snake_case("HasImmutabilityPolicy") == "has_immutability_policy"
    assert snake_case("ImmutableStorageWithVersioningEnabled") == "immutable_storage_with_versioning_enabled"
    assert snake_case("Etag") == "etag"
