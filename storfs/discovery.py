"""Accounts that need no storfs config: the variables and files the providers' own tools use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from storfs.config import AccountConfig, account_settings
from storfs.providers import PROVIDERS

ACCOUNT = "default"


def discover_accounts(env: Mapping[str, str], home: Path | None = None) -> list[AccountConfig]:
    """`azure/default`, `qingstor/default` and `oas/default`, where their usual settings exist."""
    home = home or Path(env.get("HOME") or Path.home())
    found: list[tuple[str, dict[str, str], str]] = []

    if env.get("AZURE_STORAGE_CONNECTION_STRING"):
        table = {"connection_string_env": "AZURE_STORAGE_CONNECTION_STRING"}
        found.append(("azure", table, "environment: AZURE_STORAGE_CONNECTION_STRING"))
    elif env.get("AZURE_STORAGE_ACCOUNT"):
        table = {"account": env["AZURE_STORAGE_ACCOUNT"]}
        for key, variable in (("key", "AZURE_STORAGE_KEY"), ("sas", "AZURE_STORAGE_SAS_TOKEN")):
            if env.get(variable):
                table[f"{key}_env"] = variable
                found.append(("azure", table, f"environment: AZURE_STORAGE_ACCOUNT, {variable}"))
                break

    qingstor_file = home / ".qingstor" / "config.yaml"
    if qingstor_file.is_file():
        found.append(("qingstor", {"config_file": str(qingstor_file)}, f"file: {qingstor_file}"))

    oas_vars = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "STORFS_OAS_ENDPOINT")
    if all(env.get(name) for name in oas_vars):
        table = {
            "access_key_id": env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
            "access_key_secret_env": "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "endpoint": env["STORFS_OAS_ENDPOINT"],
        }
        found.append(("oas", table, "environment: " + ", ".join(oas_vars)))

    for name, cls in PROVIDERS.items():  # providers that know their own discovery
        hook = getattr(cls, "discover", None)
        if hook is not None:
            found += [(name, table, source) for table, source in hook(env, home)]

    return [
        AccountConfig(
            provider,
            ACCOUNT,
            account_settings(PROVIDERS[provider], f"{provider}/{ACCOUNT} ({source})", table, env),
            source,
        )
        for provider, table, source in found
    ]
