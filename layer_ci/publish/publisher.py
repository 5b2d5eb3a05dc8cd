"""Idempotent publishing: each built layer to each region, identical versions reused, recorded in a lock."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from layer_ci.errors import LayerCiError, OutcomeUnknown
from layer_ci.model import (
    MAX_DESCRIPTION_LENGTH,
    BuiltLayer,
    Config,
    LayerSpec,
    PublishedVersion,
    Sharing,
)
from layer_ci.plan.lockfile import Lock, LockedLayer, PublishedRef
from layer_ci.publish.fetch import sha256_of
from layer_ci.publish.registry_contract import (
    LayerRegistry,
    LayerVersionInfo,
    PermissionGrant,
    StatementIdConflict,
)

RegistryFactory = Callable[[str], LayerRegistry]
Log = Callable[[str], None]

DESCRIPTION_MARKER = "layer-ci"
SHORT_KEY_LENGTH = 16
COMMIT_LENGTH = 12
_DESCRIPTION_KEY = re.compile(
    rf"(?:^|\s){DESCRIPTION_MARKER} input=(?P<key>[0-9a-f]{{{SHORT_KEY_LENGTH}}})(?=\s|$)"
)


class PublishError(LayerCiError):
    """A layer could not be published as asked (the zip changed since the build, ...)."""


def short_key(input_key: str) -> str:
    """The input key's first hex digits, as recorded in version descriptions (``sha256:`` dropped)."""
    return input_key.split(":", 1)[-1][:SHORT_KEY_LENGTH]


def version_description(input_key: str, commit: str, user_description: str = "") -> str:
    """``layer-ci input=<key> commit=<sha12>`` then the user's text, cut to Lambda's 256 characters."""
    commit_id = re.sub(r"[^0-9A-Za-z]", "", commit)[:COMMIT_LENGTH] or "unknown"
    head = f"{DESCRIPTION_MARKER} input={short_key(input_key)} commit={commit_id}"
    user = " ".join(user_description.split())
    room = MAX_DESCRIPTION_LENGTH - len(head) - 1
    if not user or room < 4:
        return head
    if len(user) > room:
        user = user[: room - 3].rstrip() + "..."
    return f"{head} {user}"


def description_input_key(description: str) -> str | None:
    """The short input key a layer-ci description records, None for versions published otherwise."""
    match = _DESCRIPTION_KEY.search(description)
    return match["key"] if match else None


def sharing_grants(sharing: Sharing) -> tuple[PermissionGrant, ...]:
    """The permission statements a layer's ``share_with`` asks for, with deterministic statement ids."""
    grants = [PermissionGrant(f"layer-ci-account-{account}", account) for account in sharing.accounts]
    if sharing.organization:
        grants.append(PermissionGrant(f"layer-ci-org-{sharing.organization}", "*", sharing.organization))
    if sharing.public:
        grants.append(PermissionGrant("layer-ci-public", "*"))
    return tuple(grants)


def identical_versions(
    registry: LayerRegistry, layer: str, versions: Iterable[LayerVersionInfo], zip_sha256: str, input_key: str
) -> list[LayerVersionInfo]:
    """Versions holding exactly this zip built from these inputs, oldest first.

    Only versions whose description names the input key are fetched one by one for their CodeSha256
    (Lambda's listing lacks it), so a layer with hundreds of versions costs a handful of calls.
    """
    wanted = short_key(input_key)
    found = []
    for listed in sorted(versions, key=lambda info: info.version):
        if description_input_key(listed.description) != wanted:
            continue
        info = listed if listed.code_sha256_hex else registry.get_version(layer, listed.version)
        if info is not None and info.code_sha256_hex == zip_sha256:
            found.append(info)
    return found


def publish_layers(
    config: Config,
    built: Sequence[BuiltLayer],
    registry_factory: RegistryFactory,
    lock: Lock,
    commit: str,
    *,
    regions: Mapping[str, Sequence[str]] | None = None,
    save: Callable[[Lock], object] | None = None,
    log: Log | None = None,
    on_published: Callable[[PublishedVersion], object] | None = None,
) -> tuple[Lock, list[PublishedVersion]]:
    """Publish each built layer to its regions (or ``regions[name]``), reusing identical versions.

    ``save`` is called with the updated lock after every region, so a crash loses at most the region in
    flight, and the rerun finds that version by its content and records it instead of publishing again.
    ``on_published`` hears of each version as soon as it is recorded, so a caller still knows what was
    published when a later region fails.
    """
    say = log or (lambda _message: None)
    registries: dict[str, LayerRegistry] = {}
    results: list[PublishedVersion] = []
    parts = _input_parts(config, built)
    for layer in built:
        spec = layer.spec
        manifest = layer.manifest
        actual = sha256_of(layer.zip_path)
        if actual != manifest.zip_sha256:
            raise PublishError(
                f"layer {spec.name}: {layer.zip_path} has SHA-256 {actual} but its manifest says "
                f"{manifest.zip_sha256}; the zip changed after the build: rebuild with `layer-ci build`"
            )
        previous = lock.get(spec.name)
        locked = (previous or LockedLayer(manifest.input_key, manifest.zip_sha256)).with_build(
            manifest.input_key,
            manifest.zip_sha256,
            unzipped_bytes=manifest.unzipped_bytes,
            input_parts=parts.get(spec.name),
        )
        description = version_description(manifest.input_key, commit, spec.description)
        for region in (regions or {}).get(spec.name, spec.regions):
            registry = registries.get(region) or registries.setdefault(region, registry_factory(region))
            recorded = previous.published.get(region) if previous is not None else None
            info, created = _publish_one(registry, layer, description, say, recorded)
            _share(registry, info, sharing_grants(spec.sharing), say)
            locked = locked.with_published(region, PublishedRef(info.version, info.arn))
            lock = lock.with_layer(spec.name, locked)
            if save is not None:
                save(lock)
            version = PublishedVersion(
                spec.name, region, info.version, info.arn, manifest.zip_sha256, created
            )
            results.append(version)
            if on_published is not None:
                on_published(version)
    return lock, results


def _input_parts(config: Config, built: Sequence[BuiltLayer]) -> dict[str, Mapping[str, str]]:
    """Each built layer's input parts, recorded so a later plan can say which part changed.

    Only parts that add up to the key the zip was built from are kept: a source edited since the build
    is described by neither.
    """
    from layer_ci.plan.inputs import layer_inputs

    try:
        current = layer_inputs([layer.spec for layer in built], config.root)
    except LayerCiError:  # a source folder gone since the build: the lock simply goes without parts
        return {}
    return {
        layer.spec.name: current[layer.spec.name].parts
        for layer in built
        if current[layer.spec.name].key == layer.manifest.input_key
    }


def same_content_version(
    registry: LayerRegistry,
    spec: LayerSpec,
    versions: Sequence[LayerVersionInfo],
    zip_sha256: str,
    recorded: PublishedRef | None = None,
) -> LayerVersionInfo | None:
    """The newest version (or the one the lock records) if it holds this zip with the same metadata.

    Inputs that never reach the zip (a comment in requirements, a test beside the modules) change the
    input key but not the bytes: such a build is the version already published. Compatible runtimes,
    architectures and license are part of a version too, so a change there still needs a new one.
    """
    candidates = [versions[0].version] if versions else []
    if recorded is not None and recorded.version not in candidates:
        candidates.append(recorded.version)
    listed = {info.version: info for info in versions}
    for number in candidates:
        info = listed.get(number)
        if info is None or not info.code_sha256_hex:
            info = registry.get_version(spec.name, number)
        if info is not None and info.code_sha256_hex == zip_sha256 and _same_metadata(info, spec):
            return info
    return None


def _same_metadata(info: LayerVersionInfo, spec: LayerSpec) -> bool:
    return (
        sorted(info.compatible_runtimes) == sorted(spec.compatible_runtimes)
        and sorted(info.compatible_architectures) == sorted(spec.compatible_architectures)
        and (info.license or None) == (spec.license or None)
    )


def _publish_one(
    registry: LayerRegistry,
    layer: BuiltLayer,
    description: str,
    say: Log,
    recorded: PublishedRef | None = None,
) -> tuple[LayerVersionInfo, bool]:
    name = layer.spec.name
    sha = layer.manifest.zip_sha256
    key = layer.manifest.input_key
    before = registry.list_versions(name)
    existing = identical_versions(registry, name, before, sha, key)
    if existing:
        say(f"{name} {registry.region}: v{existing[0].version} already holds this zip; reusing it")
        return existing[0], False
    same = same_content_version(registry, layer.spec, before, sha, recorded)
    if same is not None:
        say(
            f"{name} {registry.region}: v{same.version} already holds this zip (the inputs changed, "
            "the content did not); reusing it"
        )
        return same, False

    published: LayerVersionInfo | None = None
    unknown: OutcomeUnknown | None = None
    try:
        published = registry.publish(layer.spec, layer.zip_path, description)
    except OutcomeUnknown as exc:
        # The request may have created a version: the listing below decides.
        unknown = exc
    # Look again: a retried request, or a concurrent run, may have published the same zip. Every run
    # settles on the oldest identical version, so they all record the same one.
    identical = identical_versions(registry, name, registry.list_versions(name), sha, key)
    if not identical:
        if published is not None:
            return published, True
        assert unknown is not None
        raise unknown
    chosen = identical[0]
    known = {info.version for info in before}
    for duplicate in identical[1:]:
        if duplicate.version not in known:
            _remove_duplicate(registry, name, duplicate, chosen, say)
    verb = "published" if published is not None and published.version == chosen.version else "found"
    say(f"{name} {registry.region}: {verb} v{chosen.version} ({chosen.arn})")
    return chosen, chosen.version not in known


def _remove_duplicate(
    registry: LayerRegistry, name: str, duplicate: LayerVersionInfo, chosen: LayerVersionInfo, say: Log
) -> None:
    # Nothing can reference a version minutes old that no lock recorded, so removing it is safe; if we
    # may not delete, the duplicate only costs storage.
    try:
        registry.delete(name, duplicate.version)
        say(f"{name} {registry.region}: removed duplicate v{duplicate.version} (same as v{chosen.version})")
    except LayerCiError as exc:
        say(f"{name} {registry.region}: warning: duplicate v{duplicate.version} kept: {exc.one_line()}")


def _share(
    registry: LayerRegistry, info: LayerVersionInfo, grants: Sequence[PermissionGrant], say: Log
) -> None:
    if not grants:
        return
    present = {grant.statement_id for grant in registry.permissions(info.layer, info.version)}
    for grant in grants:
        if grant.statement_id in present:
            continue
        try:
            registry.add_permission(info.layer, info.version, grant)
            say(f"{info.layer} {registry.region}: v{info.version} shared ({grant.statement_id})")
        except StatementIdConflict:
            continue  # granted by a concurrent run between our look and our write
