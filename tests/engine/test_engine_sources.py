"""Layer sources: a zip, ``local`` (built from source), a version, an ARN, or by default the pinned one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from layer_ci.engine.prepare import EngineOptions
from layer_ci.engine.runner import run_function_tests
from layer_ci.engine.sources import (
    LayerSourceError,
    default_region,
    parse_layer_options,
    pinned_version,
    resolve_layers,
)
from layer_ci.model import Config
from layer_ci.plan.lockfile import Lock, LockedLayer, PublishedRef, save_lock
from layer_ci.publish.registries import open_registry
from tests.engine.engine_support import file, function_spec, layer_spec, make_config, write_zip

APP_TEST = "import mylib\n\ndef test_version():\n    assert mylib.VERSION == {version}\n"


def _repo(tmp_path: Path, expected_version: int = 1) -> Config:
    spec = layer_spec(tmp_path, "common")
    function = function_spec(
        tmp_path, "orders", {"tests/test_app.py": APP_TEST.format(version=expected_version)}, ("common",)
    )
    return make_config(tmp_path, [spec], [function])


def _publish(config: Config, tmp_path: Path, version_marker: int, region: str = "us-east-1") -> int:
    zip_path = write_zip(
        tmp_path / f"build-{version_marker}.zip", [file("python/mylib.py", f"VERSION = {version_marker}\n")]
    )
    info = open_registry(config, region).publish(config.layer("common"), zip_path, f"v{version_marker}")
    return info.version


def test_parse_layer_options() -> None:
    assert parse_layer_options(["a=local", "b = 3", "c=arn:aws:lambda:us-east-1:1:layer:c:2"]) == {
        "a": "local",
        "b": "3",
        "c": "arn:aws:lambda:us-east-1:1:layer:c:2",
    }
    with pytest.raises(LayerSourceError, match="expected NAME=SOURCE"):
        parse_layer_options(["just-a-name"])
    with pytest.raises(LayerSourceError, match="given twice"):
        parse_layer_options(["a=1", "a=2"])


def test_unknown_layer_and_missing_zip_are_usage_errors(tmp_path: Path) -> None:
    config = _repo(tmp_path)
    function = config.functions[0]
    with pytest.raises(LayerSourceError, match=r"does not use that layer \(its layers: common\)"):
        resolve_layers(config, function, {"other": "1"}, region="us-east-1", cache_dir=tmp_path / "cache")
    with pytest.raises(LayerSourceError, match="no such file"):
        resolve_layers(
            config, function, {"common": "nope.zip"}, region="us-east-1", cache_dir=tmp_path / "cache"
        )
    with pytest.raises(LayerSourceError) as caught:
        resolve_layers(config, function, {}, region="us-east-1", cache_dir=tmp_path / "cache")
    assert "pins no version of layer common" in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("0", "layer versions start at 1"),
        ("-1", "--layer common=-1: not a layer version number; versions count from 1"),
        ("99999999999999999999", "not a layer version number"),
        ("layers", "--layer common=layers: a folder, not a zip; pass the zip `layer-ci build common` wrote"),
        (
            "arn:aws:lambda:us-east-1:000000000000:layer:tools:1",
            "that ARN is a version of layer tools, not of common",
        ),
    ],
)
def test_a_source_that_cannot_be_this_layer_says_why(tmp_path: Path, source: str, words: str) -> None:
    config = _repo(tmp_path)
    (tmp_path / "layers").mkdir(exist_ok=True)
    with pytest.raises(LayerSourceError) as caught:
        resolve_layers(
            config, config.functions[0], {"common": source}, region="us-east-1", cache_dir=tmp_path / "c"
        )
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_version_numbers_and_arns_come_from_the_registry(shared_cache: Path, tmp_path: Path) -> None:
    config = _repo(tmp_path, expected_version=2)
    assert _publish(config, tmp_path, 1) == 1
    assert _publish(config, tmp_path, 2) == 2
    options = EngineOptions(cache_dir=shared_cache)

    by_version = run_function_tests(config, "orders", {"common": "2"}, options=options)
    assert by_version.status == "passed", by_version.output_tail
    assert by_version.layers[0].version == 2
    assert by_version.layers[0].arn == "arn:aws:lambda:us-east-1:000000000000:layer:common:2"

    older = run_function_tests(config, "orders", {"common": "1"}, options=options)
    assert older.status == "failed"
    assert older.headline is not None and "assert 1 == 2" in older.headline

    arn = "arn:aws:lambda:us-east-1:000000000000:layer:common:2"
    by_arn = run_function_tests(config, "orders", {"common": arn}, options=options)
    assert by_arn.status == "passed" and by_arn.layers[0].label == f"common = {arn}"

    with pytest.raises(LayerSourceError, match="version 7 does not exist in us-east-1"):
        run_function_tests(config, "orders", {"common": "7"}, options=options)


def test_default_is_the_version_the_function_pins(shared_cache: Path, tmp_path: Path) -> None:
    config = _repo(tmp_path, expected_version=1)
    _publish(config, tmp_path, 1)
    _publish(config, tmp_path, 2)
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Orders:\n    Properties:\n      Layers:\n"
        "        - arn:aws:lambda:us-east-1:000000000000:layer:common:1\n"
    )
    config = replace(config, functions=(replace(config.functions[0], pin_files=("template.yaml",)),))
    function = config.functions[0]
    assert pinned_version(config, function, "common", "us-east-1") == (1, "pinned at template.yaml:5")
    assert default_region(config, function) == "us-east-1"

    result = run_function_tests(config, "orders", options=EngineOptions(cache_dir=shared_cache))
    assert result.status == "passed", result.output_tail
    assert result.layers[0].label == "common v1 (pinned at template.yaml:5)"


def test_without_pins_the_lockfile_published_version_is_used(tmp_path: Path) -> None:
    config = _repo(tmp_path)
    arn = "arn:aws:lambda:eu-west-1:000000000000:layer:common:4"
    save_lock(
        tmp_path,
        Lock({"common": LockedLayer("sha256:" + "0" * 64, "1" * 64, {"eu-west-1": PublishedRef(4, arn)})}),
    )
    assert pinned_version(config, config.functions[0], "common", "eu-west-1") == (
        4,
        "published in eu-west-1 per layer-ci.lock",
    )


def test_local_builds_from_the_repository_source(shared_cache: Path, tmp_path: Path) -> None:
    config = _repo(tmp_path, expected_version=3)
    source = config.layer("common").source
    (source / "python").mkdir(parents=True)
    (source / "python" / "mylib.py").write_text("VERSION = 3\n")
    result = run_function_tests(
        config, "orders", {"common": "local"}, options=EngineOptions(cache_dir=shared_cache)
    )
    assert result.status == "passed", result.output_tail
    assert result.layers[0].label == "common built from layers/common"
    # Built once per input key: the second run reuses the zip.
    builds = list((shared_cache / "builds" / "common").iterdir())
    again = run_function_tests(
        config, "orders", {"common": "local"}, options=EngineOptions(cache_dir=shared_cache)
    )
    assert again.passed and list((shared_cache / "builds" / "common").iterdir()) == builds


def test_external_layers_default_to_their_arn_and_can_be_overridden(
    shared_cache: Path, tmp_path: Path
) -> None:
    vendor_spec = layer_spec(tmp_path, "vendor")
    vendor_zip = write_zip(tmp_path / "vendor-1.zip", [file("python/mylib.py", "VERSION = 5\n")])
    holder = make_config(tmp_path, [vendor_spec], [])
    open_registry(holder, "us-east-1").publish(vendor_spec, vendor_zip, "vendor v1")
    arn = "arn:aws:lambda:us-east-1:000000000000:layer:vendor:1"
    function = function_spec(tmp_path, "orders", {"tests/test_app.py": APP_TEST.format(version=5)}, ())
    function = replace(function, external_layers=(arn,))
    config = make_config(tmp_path, [], [function])  # the vendor layer is not declared in layer-ci.yml
    options = EngineOptions(cache_dir=shared_cache)

    result = run_function_tests(config, "orders", options=options)
    assert result.status == "passed", result.output_tail
    assert result.layers[0].name == "vendor" and result.layers[0].label == f"vendor = {arn}"

    newer = write_zip(tmp_path / "vendor-2.zip", [file("python/mylib.py", "VERSION = 6\n")])
    overridden = run_function_tests(config, "orders", {"vendor": str(newer)}, options=options)
    assert overridden.status == "failed" and "assert 6 == 5" in (overridden.headline or "")
