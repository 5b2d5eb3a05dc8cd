"""Idempotent publishing on moto (server mode) and the local registry: reruns, crashes, S3, throttling."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from layer_ci.errors import LayerCiError, OutcomeUnknown
from layer_ci.model import MAX_DESCRIPTION_LENGTH, BuiltLayer, Config, Sharing
from layer_ci.plan.lockfile import Lock, LockedLayer, PublishedRef, load_lock, save_lock
from layer_ci.publish.folder_registry import LocalRegistry
from layer_ci.publish.publisher import (
    description_input_key,
    publish_layers,
    sharing_grants,
    short_key,
    version_description,
)
from layer_ci.publish.registry_contract import LayerRegistry
from tests.support.aws import AwsEnv, build_test_layer
from tests.support.fault_proxy import FaultProxy, throttling_rule

REGIONS = ("us-east-1", "eu-west-1")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
PUBLISH = r"^/2018-10-31/layers/[^/]+/versions$"

Factory = Callable[[str], LayerRegistry]


def _config(tmp_path: Path, *built: BuiltLayer) -> Config:
    return Config(
        root=tmp_path, path=tmp_path / "layer-ci.yml", layers=tuple(b.spec for b in built), functions=()
    )


def _aws_factory(bucket: str | None = None) -> Factory:
    from layer_ci.adapters.aws import AwsAdapter
    from layer_ci.publish.lambda_registry import AwsRegistry

    return lambda region: AwsRegistry(AwsAdapter(region), artifact_bucket=bucket)


@pytest.fixture(params=["aws", "local"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    if request.param == "aws":
        request.getfixturevalue("aws")
        return _aws_factory()
    return lambda region: LocalRegistry(tmp_path / "registry", region)


def _versions(factory: Factory, layer: str) -> dict[str, list[int]]:
    return {region: sorted(v.version for v in factory(region).list_versions(layer)) for region in REGIONS}


# ----- the Show bullets ------------------------------------------------------------------------------


def test_three_publish_runs_after_one_change_make_one_new_version_per_region(
    factory: Factory, tmp_path: Path
) -> None:
    first = build_test_layer(tmp_path / "b1", "deps", {"python/deps.py": b"v = 1\n"}, regions=REGIONS)
    config = _config(tmp_path, first)
    lock, _ = publish_layers(config, [first], factory, Lock(), COMMIT)
    assert _versions(factory, "deps") == {"us-east-1": [1], "eu-west-1": [1]}

    changed = build_test_layer(tmp_path / "b2", "deps", {"python/deps.py": b"v = 2\n"}, regions=REGIONS)
    results = []
    for _ in range(3):
        # Each run starts from the lock before the change, as reruns of the same push do.
        new_lock, published = publish_layers(config, [changed], factory, lock, COMMIT)
        results.append([(p.region, p.version, p.created) for p in published])
    assert _versions(factory, "deps") == {"us-east-1": [1, 2], "eu-west-1": [1, 2]}
    assert results[0] == [("us-east-1", 2, True), ("eu-west-1", 2, True)]
    assert results[1] == results[2] == [("us-east-1", 2, False), ("eu-west-1", 2, False)]
    locked = new_lock.layers["deps"]
    assert (locked.input_key, locked.zip_sha256) == (changed.manifest.input_key, changed.manifest.zip_sha256)
    assert {region: ref.version for region, ref in locked.published.items()} == {
        "us-east-1": 2,
        "eu-west-1": 2,
    }


def test_rerun_after_a_crash_between_publish_and_lock_write_records_the_existing_version(
    factory: Factory, tmp_path: Path
) -> None:
    built = build_test_layer(tmp_path / "b", "deps", {"python/deps.py": b"crash = 1\n"}, regions=REGIONS)
    # The crashed run got as far as PublishLayerVersion in the first region, then died: no lock on disk.
    description = version_description(built.manifest.input_key, COMMIT, built.spec.description)
    orphan = factory("us-east-1").publish(built.spec, built.zip_path, description)
    assert load_lock(tmp_path) == Lock()

    lock, published = publish_layers(
        _config(tmp_path, built),
        [built],
        factory,
        load_lock(tmp_path),
        COMMIT,
        save=lambda new: save_lock(tmp_path, new),
    )
    assert _versions(factory, "deps") == {"us-east-1": [1], "eu-west-1": [1]}
    assert [(p.region, p.version, p.created) for p in published] == [
        ("us-east-1", 1, False),
        ("eu-west-1", 1, True),
    ]
    assert load_lock(tmp_path) == lock
    assert lock.layers["deps"].published["us-east-1"] == PublishedRef(1, orphan.arn)


def test_a_60_mb_layer_is_published_through_s3_with_a_multipart_upload(aws: AwsEnv, tmp_path: Path) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="layer-artifacts")
    noise = b"".join(os.urandom(1 << 20) for _ in range(60))  # incompressible: the zip stays > 50 MB
    built = build_test_layer(tmp_path / "b", "big", {"lib/blob.bin": noise}, stored=True)
    assert built.zip_path.stat().st_size > 60 * 1024 * 1024

    lock, published = publish_layers(
        _config(tmp_path, built), [built], _aws_factory("layer-artifacts"), Lock(), COMMIT
    )
    key = f"layer-ci/{built.manifest.zip_sha256}.zip"
    head = s3.head_object(Bucket="layer-artifacts", Key=key)
    assert head["ContentLength"] == built.zip_path.stat().st_size
    assert head["ETag"].strip('"').endswith("-4")  # 16 MiB parts: assembled from 4 multipart pieces
    info = aws.client("lambda").get_layer_version(LayerName="big", VersionNumber=published[0].version)
    assert info["Content"]["CodeSize"] == built.zip_path.stat().st_size
    assert published[0].code_sha256_hex == built.manifest.zip_sha256
    assert lock.layers["big"].published["us-east-1"].version == 1


def test_throttling_on_publish_is_retried_and_the_run_succeeds(
    fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    fault_proxy.add(throttling_rule("POST", PUBLISH, times=2))
    built = build_test_layer(tmp_path / "b", "busy", {"python/busy.py": b"x = 1\n"})
    lock, published = publish_layers(_config(tmp_path, built), [built], _aws_factory(), Lock(), COMMIT)
    assert fault_proxy.count("POST", PUBLISH) == 3  # two 429s, then the request that went through
    assert [(p.version, p.created) for p in published] == [(1, True)]
    assert [v.version for v in _aws_factory()("us-east-1").list_versions("busy")] == [1]
    assert lock.layers["busy"].published["us-east-1"].version == 1


def test_throttling_past_every_retry_is_one_clear_error(fault_proxy: FaultProxy, tmp_path: Path) -> None:
    from layer_ci.adapters.aws import AwsAdapter, AwsOptions
    from layer_ci.publish.lambda_registry import AwsRegistry

    fault_proxy.add(throttling_rule("POST", PUBLISH, times=10))
    built = build_test_layer(tmp_path / "b", "busy", {"python/busy.py": b"x = 1\n"})
    factory = lambda region: AwsRegistry(AwsAdapter(region, AwsOptions(max_attempts=2)))  # noqa: E731
    with pytest.raises(LayerCiError, match=r"PublishLayerVersion failed: throttled.*retry_mode: adaptive"):
        publish_layers(_config(tmp_path, built), [built], factory, Lock(), COMMIT)


# ----- sharing -----------------------------------------------------------------------------------------


def test_sharing_is_granted_once_and_reruns_add_nothing(
    fault_proxy: FaultProxy, aws: AwsEnv, tmp_path: Path
) -> None:
    sharing = Sharing(accounts=("111122223333",), organization="o-abc123", public=True)
    built = build_test_layer(tmp_path / "b", "shared", {"python/s.py": b"s = 1\n"}, sharing=sharing)
    config = _config(tmp_path, built)
    for _ in range(2):
        publish_layers(config, [built], _aws_factory(), Lock(), COMMIT)
    assert fault_proxy.count("POST", r"/layers/shared/versions/1/policy$") == 3  # only the first run granted
    import json

    policy = json.loads(
        aws.client("lambda").get_layer_version_policy(LayerName="shared", VersionNumber=1)["Policy"]
    )
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert sorted(statements) == ["layer-ci-account-111122223333", "layer-ci-org-o-abc123", "layer-ci-public"]
    assert statements["layer-ci-public"]["Action"] == "lambda:GetLayerVersion"


def test_sharing_grants_have_deterministic_statement_ids() -> None:
    grants = sharing_grants(
        Sharing(accounts=("111122223333", "444455556666"), organization="o-x", public=True)
    )
    assert [(g.statement_id, g.principal, g.organization_id) for g in grants] == [
        ("layer-ci-account-111122223333", "111122223333", None),
        ("layer-ci-account-444455556666", "444455556666", None),
        ("layer-ci-org-o-x", "*", "o-x"),
        ("layer-ci-public", "*", None),
    ]


# ----- descriptions, dedupe and the lock ------------------------------------------------------------


def test_description_carries_key_and_commit_and_fits_256_characters() -> None:
    key = "sha256:" + "ab" * 32
    short = version_description(key, COMMIT, "Shared  HTTP\nhelpers")
    assert short == f"layer-ci input={'ab' * 8} commit={COMMIT[:12]} Shared HTTP helpers"
    long = version_description(key, COMMIT, "word " * 100)
    assert len(long) == MAX_DESCRIPTION_LENGTH and long.endswith("...")
    assert description_input_key(long) == short_key(key) == "ab" * 8
    assert description_input_key("published by hand") is None


def test_same_zip_from_different_inputs_reuses_the_newest_version(factory: Factory, tmp_path: Path) -> None:
    """Inputs that never reach the zip changed the key: the newest version already holds these bytes."""
    built = build_test_layer(
        tmp_path / "b", "deps", {"python/deps.py": b"v\n"}, input_key="sha256:" + "1" * 64
    )
    rekeyed = replace(built, manifest=replace(built.manifest, input_key="sha256:" + "2" * 64))
    lock, _ = publish_layers(_config(tmp_path, built), [built], factory, Lock(), COMMIT)
    messages: list[str] = []
    lock, published = publish_layers(
        _config(tmp_path, built), [rekeyed], factory, lock, COMMIT, log=messages.append
    )
    assert [(p.version, p.created) for p in published] == [(1, False)]
    assert [v.version for v in factory("us-east-1").list_versions("deps")] == [1]
    assert lock.layers["deps"].input_key == "sha256:" + "2" * 64  # the new key is what the lock remembers
    assert lock.layers["deps"].published["us-east-1"].version == 1
    assert any("the inputs changed, the content did not" in m for m in messages)


def test_same_zip_with_other_compatible_runtimes_is_a_new_version(factory: Factory, tmp_path: Path) -> None:
    """Compatible runtimes are part of a version: equal bytes do not make it the same version."""
    built = build_test_layer(
        tmp_path / "b", "deps", {"python/deps.py": b"v\n"}, input_key="sha256:" + "1" * 64
    )
    wider = replace(
        built,
        spec=replace(built.spec, compatible_runtimes=("python3.12", "python3.13")),
        manifest=replace(built.manifest, input_key="sha256:" + "2" * 64),
    )
    lock, _ = publish_layers(_config(tmp_path, built), [built], factory, Lock(), COMMIT)
    lock, published = publish_layers(_config(tmp_path, wider), [wider], factory, lock, COMMIT)
    assert [(p.version, p.created) for p in published] == [(2, True)]


def test_same_zip_as_an_older_version_behind_a_different_newest_is_published(tmp_path: Path) -> None:
    """Only the newest version (or the one the lock records) is reused: reverting to old bytes after
    someone else published must not silently roll the lock back to a version older than the newest."""
    registry = LocalRegistry(tmp_path / "registry", "us-east-1")
    factory: Factory = lambda region: registry  # noqa: E731
    one = build_test_layer(tmp_path / "a", "deps", {"python/deps.py": b"1\n"}, input_key="sha256:" + "1" * 64)
    two = build_test_layer(tmp_path / "b", "deps", {"python/deps.py": b"2\n"}, input_key="sha256:" + "2" * 64)
    publish_layers(_config(tmp_path, one), [one], factory, Lock(), COMMIT)
    registry.publish(two.spec, two.zip_path, "published by hand")  # v2, other bytes, not in any lock
    back = replace(one, manifest=replace(one.manifest, input_key="sha256:" + "3" * 64))
    _, published = publish_layers(_config(tmp_path, back), [back], factory, Lock(), COMMIT)
    assert [(p.version, p.created) for p in published] == [(3, True)]


class _Flaky:
    """Wraps a registry: its publish creates the version ``extra`` more times, or reports no outcome."""

    def __init__(self, inner: LocalRegistry, *, duplicates: int = 0, lose_answer: bool = False) -> None:
        self.inner = inner
        self.region = inner.region
        self.duplicates = duplicates
        self.lose_answer = lose_answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def publish(self, spec: Any, zip_path: Path, description: str) -> Any:
        for _ in range(self.duplicates):
            self.inner.publish(spec, zip_path, description)  # what a retried timed-out request leaves
        info = self.inner.publish(spec, zip_path, description)
        if self.lose_answer:
            raise OutcomeUnknown("AWS Lambda", "PublishLayerVersion", "no answer; may have taken effect")
        return info


def test_duplicates_left_by_retries_are_removed_and_the_oldest_is_recorded(tmp_path: Path) -> None:
    inner = LocalRegistry(tmp_path / "registry", "us-east-1")
    older = build_test_layer(tmp_path / "o", "deps", {"other": b"1"})
    inner.publish(older.spec, older.zip_path, "published by hand")  # v1: other content, must survive
    built = build_test_layer(tmp_path / "b", "deps", {"python/deps.py": b"d\n"})
    messages: list[str] = []
    _, published = publish_layers(
        _config(tmp_path, built),
        [built],
        lambda region: _Flaky(inner, duplicates=2),
        Lock(),
        COMMIT,
        log=messages.append,
    )
    # The "retry" created v2 and v3 before the answered v4: v2 is kept, v3 and v4 are removed.
    assert [v.version for v in inner.list_versions("deps")] == [2, 1]
    assert [(p.version, p.created) for p in published] == [(2, True)]
    assert [m for m in messages if "removed duplicate" in m] == [
        "deps us-east-1: removed duplicate v3 (same as v2)",
        "deps us-east-1: removed duplicate v4 (same as v2)",
    ]


def test_a_publish_whose_answer_was_lost_is_found_by_listing(tmp_path: Path) -> None:
    inner = LocalRegistry(tmp_path / "registry", "us-east-1")
    built = build_test_layer(tmp_path / "b", "deps", {"python/deps.py": b"lost\n"})
    lock, published = publish_layers(
        _config(tmp_path, built), [built], lambda region: _Flaky(inner, lose_answer=True), Lock(), COMMIT
    )
    assert [(p.version, p.created) for p in published] == [(1, True)]
    assert lock.layers["deps"].published["us-east-1"].version == 1


def test_an_unknown_outcome_that_created_nothing_is_reported(tmp_path: Path) -> None:
    class NothingHappened(_Flaky):
        def publish(self, spec: Any, zip_path: Path, description: str) -> Any:
            raise OutcomeUnknown("AWS Lambda", "PublishLayerVersion", "no answer from us-east-1")

    built = build_test_layer(tmp_path / "b", "deps", {"python/deps.py": b"x\n"})
    inner = LocalRegistry(tmp_path / "registry", "us-east-1")
    with pytest.raises(OutcomeUnknown, match="no answer"):
        publish_layers(
            _config(tmp_path, built), [built], lambda region: NothingHappened(inner), Lock(), COMMIT
        )


def test_the_lock_is_saved_after_each_region(tmp_path: Path) -> None:
    built = build_test_layer(tmp_path / "b", "deps", {"python/deps.py": b"r\n"}, regions=REGIONS)

    def factory(region: str) -> LayerRegistry:
        if region == "eu-west-1":
            raise LayerCiError("eu-west-1 is down")
        return LocalRegistry(tmp_path / "registry", region)

    previous = Lock().with_layer(
        "other", LockedLayer("sha256:" + "0" * 64, "1" * 64, {"us-east-1": PublishedRef(3, "arn:x")})
    )
    with pytest.raises(LayerCiError, match="is down"):
        publish_layers(
            _config(tmp_path, built),
            [built],
            factory,
            previous,
            COMMIT,
            save=lambda lock: save_lock(tmp_path, lock),
        )
    saved = load_lock(tmp_path)
    assert dict(saved.layers["deps"].published) == {
        "us-east-1": PublishedRef(1, saved.layers["deps"].published["us-east-1"].arn)
    }
    assert saved.layers["other"] == previous.layers["other"]


def test_a_zip_changed_after_its_build_is_refused(tmp_path: Path) -> None:
    built = build_test_layer(tmp_path / "b", "deps", {"python/deps.py": b"x\n"})
    built.zip_path.write_bytes(b"not what was built")
    factory: Factory = lambda region: LocalRegistry(tmp_path / "registry", region)  # noqa: E731
    with pytest.raises(LayerCiError, match="changed after the build"):
        publish_layers(_config(tmp_path, built), [built], factory, Lock(), COMMIT)


# ----- the command, end to end (real config loading, real builds) -------------------------------------

COMMAND_CONFIG = """\
version: 1
settings:
  registry: {registry}
layers:
  deps:
    source: layers/deps
    build: {{method: files}}
    compatible_runtimes: [python3.11]
    license: MIT
    description: Shared helpers
    regions: [{regions}]
"""


def _command_repo(
    tmp_path: Path, *, registry: str = "local", regions: tuple[str, ...] = ("us-east-1",)
) -> Path:
    root = tmp_path / "repo"
    (root / "layers" / "deps" / "python").mkdir(parents=True)
    (root / "layers" / "deps" / "python" / "deps.py").write_text("VERSION = 1\n")
    (root / "layer-ci.yml").write_text(COMMAND_CONFIG.format(registry=registry, regions=", ".join(regions)))
    return root


def _run(root: Path, *args: str) -> int:
    from layer_ci.cli import main

    return main(["--config", str(root / "layer-ci.yml"), "publish", "--commit", COMMIT, *args])


def test_publish_command_is_a_no_op_when_nothing_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _command_repo(tmp_path)
    assert _run(root) == 0
    first = capsys.readouterr()
    assert first.out.startswith(
        "published deps v1 in us-east-1  arn:aws:lambda:us-east-1:000000000000:layer:deps:1"
    )
    assert load_lock(root).layers["deps"].published["us-east-1"].version == 1

    assert _run(root) == 0
    assert "nothing to publish" in capsys.readouterr().err
    assert _run(root, "--force", "--json") == 0
    import json

    assert [(p["version"], p["created"]) for p in json.loads(capsys.readouterr().out)] == [(1, False)]
    registry = LocalRegistry(root / ".layer-ci" / "registry", "us-east-1")
    info = registry.list_versions("deps")[0]
    assert (
        info.description == f"layer-ci input={short_key(load_lock(root).layers['deps'].input_key)} "
        f"commit={COMMIT[:12]} Shared helpers"
    )
    assert len(registry.list_versions("deps")) == 1


def test_publish_records_the_unzipped_size_and_input_parts_for_later_plans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from layer_ci.build.manifest import read_manifest
    from layer_ci.config.loader import load_config
    from layer_ci.plan.changes import make_plan
    from layer_ci.plan.inputs import layer_inputs

    root = _command_repo(tmp_path)
    assert _run(root) == 0
    locked = load_lock(root).layers["deps"]
    manifest = read_manifest(root / ".layer-ci" / "build" / "deps.manifest.json")
    assert locked.unzipped_bytes == manifest.unzipped_bytes > 0
    config = load_config(root / "layer-ci.yml")
    assert dict(locked.input_parts) == dict(layer_inputs(config.layers, root)["deps"].parts)
    (root / "layers" / "deps" / "python" / "deps.py").write_text("VERSION = 2\n")
    assert make_plan(config, load_lock(root)).changes[0].reason == "inputs changed: source files"


def test_publish_command_three_runs_after_a_change_make_one_version_per_region(
    aws: AwsEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _command_repo(tmp_path, registry="aws", regions=REGIONS)
    assert _run(root) == 0
    (root / "layers" / "deps" / "python" / "deps.py").write_text("VERSION = 2\n")
    for _ in range(3):
        assert _run(root) == 0
    factory = _aws_factory()
    assert _versions(factory, "deps") == {"us-east-1": [1, 2], "eu-west-1": [1, 2]}
    published = load_lock(root).layers["deps"].published
    assert {region: ref.version for region, ref in published.items()} == {"us-east-1": 2, "eu-west-1": 2}


def test_publish_command_after_a_crash_before_the_lock_write_adds_no_version(
    aws: AwsEnv, tmp_path: Path
) -> None:
    """The crashed run published in us-east-1 and died before writing layer-ci.lock; the rerun recovers."""
    from layer_ci.build.layer import build_layer
    from layer_ci.config.loader import load_config
    from layer_ci.plan.inputs import input_key

    root = _command_repo(tmp_path, registry="aws", regions=REGIONS)
    config = load_config(root / "layer-ci.yml")
    spec = config.layer("deps")
    built = build_layer(spec, tmp_path / "crashed-run", input_key=input_key(spec, root))
    description = version_description(built.manifest.input_key, "ffffffffffffffff", spec.description)
    orphan = _aws_factory()("us-east-1").publish(spec, built.zip_path, description)
    assert not (root / "layer-ci.lock").exists()

    assert _run(root) == 0
    assert _versions(_aws_factory(), "deps") == {"us-east-1": [1], "eu-west-1": [1]}
    locked = load_lock(root).layers["deps"]
    assert locked.published["us-east-1"] == PublishedRef(1, orphan.arn)
    assert locked.zip_sha256 == built.manifest.zip_sha256


PYTHON_CONFIG = """\
version: 1
settings:
  registry: {registry}
layers:
  shared:
    source: layers/shared
    build: {{method: python, requirements: requirements.txt}}
    compatible_runtimes: [python3.12]
    regions: [us-east-1]
"""


@pytest.mark.parametrize("registry", ["aws", "local"])
def test_a_comment_in_requirements_changes_the_inputs_but_publishes_no_new_version(
    registry: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SAM-style python layer (requirements with no third-party pins yet, plus its own module)."""
    if registry == "aws":
        request.getfixturevalue("aws")
    root = tmp_path / "repo"
    source = root / "layers" / "shared"
    source.mkdir(parents=True)
    (source / "requirements.txt").write_text("# pinned by the platform team\n")
    (source / "shared.py").write_text("def hello():\n    return 'hi'\n")
    (root / "layer-ci.yml").write_text(PYTHON_CONFIG.format(registry=registry))
    assert _run(root) == 0
    first = load_lock(root).layers["shared"]
    (source / "requirements.txt").write_text("# pinned by the platform team (reviewed 2026-12)\n")
    assert _run(root) == 0
    out = capsys.readouterr()
    second = load_lock(root).layers["shared"]
    assert second.input_key != first.input_key  # the edit was seen ...
    assert second.zip_sha256 == first.zip_sha256  # ... but did not reach the zip
    assert second.published["us-east-1"].version == 1
    assert "the inputs changed, the content did not" in out.err + out.out
    store = (
        _aws_factory()("us-east-1")
        if registry == "aws"
        else LocalRegistry(root / ".layer-ci" / "registry", "us-east-1")
    )
    listed = store.list_versions("shared")
    assert [v.version for v in listed] == [1]
    assert _run(root) == 0  # and the lock now says nothing changed
    assert "nothing to publish" in capsys.readouterr().err


def test_publish_command_refuses_unknown_layers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _command_repo(tmp_path)
    assert _run(root, "nope") == 2
    assert "unknown layer 'nope'; layer-ci.yml declares: deps" in capsys.readouterr().err


def test_publish_command_on_the_bundled_example_needs_no_account(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's offline trial: the default local registry, no AWS credentials, no network."""
    from layer_ci.cli import main

    assert main(["--config", str(example_repo / "layer-ci.yml"), "publish", "tools"]) == 0
    assert "published tools v1 in us-east-1" in capsys.readouterr().out
    versions = LocalRegistry(example_repo / ".layer-ci" / "registry", "us-east-1").list_versions("tools")
    assert [v.version for v in versions] == [1]
    assert load_lock(example_repo).layers["tools"].published["us-east-1"].version == 1


def test_a_publish_that_took_effect_but_answered_500_leaves_one_version(
    fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    """botocore retries the 500, so moto gets two PublishLayerVersion calls: the duplicate is removed."""
    from tests.support.fault_proxy import aws_error_rule

    lost = aws_error_rule("POST", PUBLISH, 500, "ServiceException", "internal error")
    lost.forward_first = True
    fault_proxy.add(lost)
    built = build_test_layer(tmp_path / "b", "deps", {"python/deps.py": b"x = 1\n"})
    lock, published = publish_layers(_config(tmp_path, built), [built], _aws_factory(), Lock(), COMMIT)
    assert fault_proxy.count("POST", PUBLISH) == 2
    assert [v.version for v in _aws_factory()("us-east-1").list_versions("deps")] == [1]
    assert [(p.version, p.created) for p in published] == [(1, True)]
    assert lock.layers["deps"].published["us-east-1"].version == 1


def test_server_errors_on_every_publish_attempt_fail_with_one_clear_line(
    fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    from tests.support.fault_proxy import aws_error_rule

    fault_proxy.add(aws_error_rule("POST", PUBLISH, 503, "ServiceException", "unavailable", times=20))
    built = build_test_layer(tmp_path / "b", "deps", {"python/deps.py": b"x = 1\n"})
    with pytest.raises(
        OutcomeUnknown, match=r"^AWS Lambda PublishLayerVersion failed: ServiceException from"
    ):
        publish_layers(_config(tmp_path, built), [built], _aws_factory(), Lock(), COMMIT)
    assert fault_proxy.count("POST", PUBLISH) == 6  # every attempt botocore makes (standard mode)
    assert [v.version for v in _aws_factory()("us-east-1").list_versions("deps")] == []
