"""A provider package is the only place that knows its API (issue 12): checked on the source and
on what the rest of storfs does with the registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from storfs import config
from storfs.errors import AccessDenied, ConfigError
from storfs.providers import PROVIDERS
from storfs.redact import REDACTOR
from storfs.tree_walk import advice

PACKAGE = Path(__file__).parents[2] / "storfs"
OUTSIDE = sorted(p for p in PACKAGE.rglob("*.py") if PACKAGE / "providers" not in p.parents)
#: What each provider's signer writes: the scheme part that is kept, and the signature that is masked.
SIGNED = {
    "azure": ("SharedKey devstoreaccount1:", "A1b2" * 11),
    "qingstor": ("QS EXAMPLEAKID0000000001:", "Zz9/" * 8),
    "oas": ("OAS EXAMPLEOASACCESSKEY01:", "q+w=" * 6),
    "s3": ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20130524/us-east-1/s3/aws4_request, "
           "SignedHeaders=host;x-amz-date, Signature=", "0f" * 32),
}  # fmt: skip


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_outside_the_providers_names_one(path: Path) -> None:
    packages = {f"storfs.providers.{name}" for name in PROVIDERS}
    assert not [name for name in imports(path) for p in packages if name == p or name.startswith(p + ".")]
    tree = ast.parse(path.read_text())
    names = set(PROVIDERS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert node.value.lower() not in names, f"{path.name}: the string {node.value!r}"
        if isinstance(node, ast.Name | ast.Attribute):
            identifier = node.id if isinstance(node, ast.Name) else node.attr
            assert not set(identifier.lower().split("_")) & names, f"{path.name}: {identifier}"


def test_the_providers_never_import_the_config() -> None:
    for path in (PACKAGE / "providers").rglob("*.py"):
        assert not {
            name for name in imports(path) if name.startswith(("storfs.config", "storfs.commands"))
        }, path


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_provider_tells_what_the_rest_needs(name: str) -> None:
    cls = PROVIDERS[name]
    assert cls.discovery_help and cls.credential_keys and cls.endpoint_keys and cls.signature_patterns
    assert set(cls.credential_keys + cls.endpoint_keys) <= cls.config_keys | {"page_size"}
    kept, signature = SIGNED[name]
    assert REDACTOR.redact(f"sent {kept}{signature} now") == f"sent {kept}*** now"


def test_discovery_goes_through_each_provider(tmp_path: Path) -> None:
    (tmp_path / ".qingstor").mkdir()
    (tmp_path / ".qingstor" / "config.yaml").write_text("access_key_id: 'AK'\nsecret_access_key: 'SK-0123'\n")
    env = {
        "AZURE_STORAGE_ACCOUNT": "acct",
        "AZURE_STORAGE_SAS_TOKEN": "sv=2020-10-02&sig=abcdef",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "oas-secret",
        "STORFS_OAS_ENDPOINT": "http://127.0.0.1:9",
    }
    found, problems = config.discovered_accounts(env, tmp_path)
    assert problems == []
    assert {(a.provider, a.account): a.source for a in found} == {
        ("azure", "default"): "environment: AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_SAS_TOKEN",
        ("oas", "default"): "environment: ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, "
        "STORFS_OAS_ENDPOINT",
        ("qingstor", "default"): f"file: {tmp_path / '.qingstor' / 'config.yaml'}",
    }
    assert dict(found[0].settings) == {"account": "acct", "sas": "sv=2020-10-02&sig=abcdef"}


def test_half_set_variables_name_what_is_missing(tmp_path: Path) -> None:
    found, problems = config.discovered_accounts(
        {"AZURE_STORAGE_ACCOUNT": "acct", "STORFS_OAS_ENDPOINT": "http://127.0.0.1:9"}, tmp_path
    )
    assert found == []
    assert problems == [
        "AZURE_STORAGE_ACCOUNT is set, but neither AZURE_STORAGE_KEY nor AZURE_STORAGE_SAS_TOKEN is",
        "STORFS_OAS_ENDPOINT is set, but ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET are not",
    ]
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="no accounts configured: AZURE_STORAGE_ACCOUNT is set"):
        config.load(empty, {"AZURE_STORAGE_ACCOUNT": "acct"}, home=tmp_path)
    # The pair alone is there for other Alibaba Cloud tools: no oas/default, and no word about it.
    assert config.discovered_accounts({"ALIBABA_CLOUD_ACCESS_KEY_ID": "id"}, tmp_path) == ([], [])


def test_advice_points_at_the_providers_own_keys() -> None:
    table = {"access_key_id": "AK", "secret_access_key": "SK-0123"}
    cfg = config.parse({"qingstor": {"main": table}}, {}, Path("/etc/storfs.toml"))
    hint = advice(AccessDenied("HTTP 403 signature_not_matched"), cfg.accounts[0], cfg.path)
    assert hint == "check access_key_id / secret_access_key in [qingstor.main] of /etc/storfs.toml"
