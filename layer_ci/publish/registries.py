"""Layer registries: where layer versions are published (Lambda per region, or a local folder)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from layer_ci.fsutil import state_dir
from layer_ci.model import Config
from layer_ci.publish.registry_contract import (
    DeployedFunction,
    LayerRegistry,
    LayerVersionInfo,
    PermissionGrant,
    StatementIdConflict,
)

__all__ = [
    "DeployedFunction",
    "LayerRegistry",
    "LayerVersionInfo",
    "PermissionGrant",
    "StatementIdConflict",
    "local_registry_base",
    "open_registry",
    "registry_factory",
]


def local_registry_base(config: Config) -> Path:
    """The folder of the local registry (``settings.registry_path``, relative to the repository root)."""
    path = Path(config.settings.registry_path)
    return path if path.is_absolute() else state_dir(config.root, path)


def open_registry(config: Config, region: str) -> LayerRegistry:
    """The registry that ``settings.registry`` names, for one region (boto3 is imported only for ``aws``)."""
    if config.settings.registry == "aws":
        from layer_ci.adapters.aws import AwsAdapter, AwsOptions
        from layer_ci.publish.lambda_registry import AwsRegistry

        adapter = AwsAdapter(region, AwsOptions.from_env(config.settings.retry_mode))
        return AwsRegistry(adapter, artifact_bucket=config.settings.artifact_bucket)
    from layer_ci.publish.folder_registry import LocalRegistry

    return LocalRegistry(local_registry_base(config), region, account=config.settings.account)


def registry_factory(config: Config) -> Callable[[str], LayerRegistry]:
    """``open_registry`` for this config, opening each region's registry (and its clients) once."""
    opened: dict[str, LayerRegistry] = {}

    def for_region(region: str) -> LayerRegistry:
        if region not in opened:
            opened[region] = open_registry(config, region)
        return opened[region]

    return for_region
