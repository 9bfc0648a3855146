"""List Containers XML parsing: the seed's shape, Azurite's quirks, and malformed input."""

from __future__ import annotations

import errno

import pytest

from storfs.entry import snake_case
from storfs.errors import BadResponse
from storfs.names import unusable_reason
from storfs.providers.azure.parse import parse_containers

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
    <Container><Name>images</Name><Properties><Last-Modified>Thu, 27 Oct 2016 20:39:39 GMT</Last-Modified></Properties></Container>
  </Containers>
  <NextMarker>video</NextMarker>
</EnumerationResults>"""


def test_seed_page() -> None:
    page = parse_containers(SEED_PAGE)
    assert page.next_cursor == "video"
    audio, images = page.entries
    assert audio.name == "audio" and audio.is_dir
    assert audio.mtime_ns == 1477514379 * 10**9
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
    assert images.mtime_ns == (1477514379 + 86400) * 10**9
    assert images.xattr("user.azure.public_access") == "private"  # private when unsaid


@pytest.mark.parametrize("date", ["not a date", "", "Wed, 32 Oct 2016 20:39:39 GMT", "2016-10-26T20:39:39Z"])
def test_a_date_that_is_not_a_time_refuses_the_page_not_a_made_up_1970(date: str) -> None:
    body = SEED_PAGE.replace(b"Thu, 27 Oct 2016 20:39:39 GMT", date.encode())
    with pytest.raises(BadResponse, match="`Last-Modified` that is not a time"):
        parse_containers(body)


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
        # The byte guard this replaced missed a DTD in UTF-16 (with or without a BOM).
        '<!DOCTYPE x [<!ENTITY a "aaaa">]><EnumerationResults>&a;</EnumerationResults>'.encode("utf-16"),
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd">'
        "<EnumerationResults/>".encode("utf-16-le"),
        b"<EnumerationResults><Containers><Container><Name>a</Name><Name>b</Name></Container>"
        b"</Containers></EnumerationResults>",
        b"<EnumerationResults><Containers><Container><Name><b>x</b></Name></Container>"
        b"</Containers></EnumerationResults>",
        b"<EnumerationResults><Containers/><NextMarker>a</NextMarker><NextMarker>b</NextMarker>"
        b"</EnumerationResults>",
        b"<EnumerationResults><Containers/><Containers/></EnumerationResults>",
        b"<EnumerationResults><Containers/><NextMarker><m>x</m></NextMarker></EnumerationResults>",
        b"<EnumerationResults><Containers><Container><Name>a</Name><Properties>"
        b"<Etag><x/></Etag></Properties></Container></Containers></EnumerationResults>",
    ],
    ids=[
        "empty",
        "truncated",
        "error-body",
        "no-name",
        "entities",
        "utf16-dtd",
        "utf16le-external-dtd",
        "two-names",
        "name-with-elements",
        "two-next-markers",
        "two-containers",
        "marker-with-elements",
        "property-with-elements",
    ],
)
def test_malformed_bodies_are_bad_responses(body: bytes) -> None:
    with pytest.raises(BadResponse) as caught:
        parse_containers(body)
    assert caught.value.errno == errno.EIO


def test_a_dtd_is_named_in_the_message() -> None:
    body = '<!DOCTYPE x [<!ENTITY a "a">]><EnumerationResults/>'.encode("utf-16")
    with pytest.raises(BadResponse, match="DTD"):
        parse_containers(body)


def test_an_empty_name_is_an_entry_the_listing_skips() -> None:
    """Not an error for the whole page: the listing skips unusable names with one warning."""
    body = (
        b"<EnumerationResults><Containers><Container><Name></Name></Container>"
        b"<Container><Name>ok</Name></Container></Containers><NextMarker/></EnumerationResults>"
    )
    page = parse_containers(body)
    assert [e.name for e in page.entries] == ["", "ok"]
    assert unusable_reason(page.entries[0].name) is not None


def test_only_direct_children_are_containers() -> None:
    """A <Container> inside a container's metadata is a metadata item, not another container."""
    body = (
        b"<EnumerationResults><Containers><Container><Name>a</Name><Metadata><Container>x</Container>"
        b"</Metadata></Container></Containers></EnumerationResults>"
    )
    (entry,) = parse_containers(body).entries
    assert entry.xattr("user.azure.meta.Container") == "x"


def test_sub_second_and_colliding_property_names() -> None:
    body = (
        b"<EnumerationResults><Containers><Container><Name>a</Name><Properties>"
        b"<Last-Modified>Wed, 26 Oct 2016 20:39:39 GMT</Last-Modified>"
        b"<LastModified>Thu, 27 Oct 2016 20:39:39 GMT</LastModified><Etag>e</Etag><Etag>f</Etag><Etag>g</Etag>"
        b"</Properties><Metadata><a_b>1</a_b><a_x20_b>2</a_x20_b></Metadata></Container></Containers>"
        b"</EnumerationResults>"
    )
    (entry,) = parse_containers(body).entries
    assert entry.mtime_ns == 1477514379 * 10**9  # the first date wins
    assert dict(entry.xattrs()) == {
        "user.azure.last_modified": "Wed, 26 Oct 2016 20:39:39 GMT",
        "user.azure.~LastModified": "Thu, 27 Oct 2016 20:39:39 GMT",
        "user.azure.etag": "e",
        "user.azure.~Etag": "f",  # the very same property a third time has no name left
        "user.azure.public_access": "private",
        "user.azure.meta.a_b": "1",
        "user.azure.meta.a_x20_b": "2",
    }


def test_snake_case() -> None:
    assert snake_case("Last-Modified") == "last_modified"
    assert snake_case("HasImmutabilityPolicy") == "has_immutability_policy"
    assert snake_case("ImmutableStorageWithVersioningEnabled") == "immutable_storage_with_versioning_enabled"
    assert snake_case("Etag") == "etag"


def test_attributes_are_decoded_on_first_read_and_equal_every_time() -> None:
    (audio, _) = parse_containers(SEED_PAGE).entries
    assert audio._raw is not None  # type: ignore[attr-defined]  # only what `stat` needs so far
    first = audio.fields
    assert audio._raw is None  # type: ignore[attr-defined]  # the raw texts go once decoded
    assert audio.fields is first and audio.xattr("user.azure.etag") == "0x8CACB9BD7C6B1B2"


def test_the_date_is_the_properties_never_the_metadata() -> None:
    body = (
        b"<EnumerationResults><Containers><Container><Name>a</Name><Properties>"
        b"<LastModified>Wed, 26 Oct 2016 20:39:39 GMT</LastModified>"
        b"</Properties><Metadata><Last-Modified>Thu, 27 Oct 2016 20:39:39 GMT</Last-Modified></Metadata>"
        b"</Container></Containers></EnumerationResults>"
    )
    (entry,) = parse_containers(body).entries
    assert entry.mtime_ns == entry.ctime_ns == 1477514379 * 10**9  # metadata is never a date
    assert entry.xattr("user.azure.meta.Last-Modified") == "Thu, 27 Oct 2016 20:39:39 GMT"


def test_metadata_is_checked_when_parsed_not_when_read() -> None:
    item = b"<Metadata><k><x/></k></Metadata>"
    body = b"<EnumerationResults><Containers><Container><Name>a</Name>%s</Container></Containers></EnumerationResults>"
    with pytest.raises(BadResponse, match="<Metadata/k> holding elements"):
        parse_containers(body % item)
    # A name the service could not express is skipped whatever it holds.
    (entry,) = parse_containers(
        body % b"<Metadata><x-ms-invalid-name><y/></x-ms-invalid-name></Metadata>"
    ).entries
    assert dict(entry.xattrs()) == {"user.azure.public_access": "private"}
