"""Lambda limit preflight: each violation names the function, the layer and the numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from layer_ci.errors import LimitError
from layer_ci.lambda_spec.limits import (
    LAMBDA_RUNTIMES,
    check_function_limits,
    check_layer_spec,
    raise_on_violations,
)
from layer_ci.model import MAX_UNZIPPED_BYTES, BuildSpec, Config, FunctionSpec, LayerSpec

VENDOR = "arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Extension:65"


def layer(name: str, **overrides: object) -> LayerSpec:
    fields: dict[str, object] = {
        "name": name,
        "source": Path("/repo") / name,
        "build": BuildSpec(method="files"),
        "compatible_runtimes": ("python3.11", "python3.12"),
        "compatible_architectures": ("x86_64",),
        "regions": ("us-east-1",),
    }
    fields.update(overrides)
    return LayerSpec(**fields)  # type: ignore[arg-type]


def function(layers: tuple[str, ...], external: tuple[str, ...] = (), **overrides: object) -> FunctionSpec:
    fields: dict[str, object] = {
        "name": "orders",
        "source": Path("/repo/functions/orders"),
        "runtime": "python3.12",
        "architecture": "x86_64",
        "handler": "app.handler",
        "layers": layers,
        "external_layers": external,
    }
    fields.update(overrides)
    return FunctionSpec(**fields)  # type: ignore[arg-type]


def config(*layers: LayerSpec) -> Config:
    return Config(root=Path("/repo"), path=Path("/repo/layer-ci.yml"), layers=layers, functions=())


def test_a_function_within_every_limit_has_no_violations() -> None:
    conf = config(layer("common"), layer("tools"))
    fn = function(("common", "tools"), (VENDOR,))
    assert check_function_limits(conf, fn, {"common": 100_000_000, "tools": 50_000_000}, 10_000_000) == []


def test_exactly_the_unzipped_limit_is_allowed() -> None:
    conf = config(layer("common"))
    assert check_function_limits(conf, function(("common",)), {"common": MAX_UNZIPPED_BYTES - 1}, 1) == []


def test_six_layers_counting_external_ones() -> None:
    names = tuple(f"l{i}" for i in range(4))
    conf = config(*(layer(name) for name in names))
    vendors = (VENDOR, VENDOR.replace("65", "66"))
    [message] = check_function_limits(conf, function(names, vendors), {}, 0)
    assert message.startswith("function 'orders' uses 6 layers (l0, l1, l2, l3, arn:aws:lambda:")
    assert message.endswith("Lambda allows at most 5, remove 1")


def test_unzipped_size_names_each_part_the_total_and_the_excess() -> None:
    conf = config(layer("common"), layer("tools"))
    sizes = {"common": 200_000_000, "tools": 50_000_000, VENDOR: 12_000_000}
    [message] = check_function_limits(conf, function(("common", "tools"), (VENDOR,)), sizes, 1_000_000)
    assert message == (
        "function 'orders' would be 263,000,000 bytes (263.0 MB) unzipped: function code 1,000,000 bytes "
        "(1.0 MB) + layer 'common' 200,000,000 bytes (200.0 MB) + layer 'tools' 50,000,000 bytes (50.0 MB) "
        f"+ external layer {VENDOR} 12,000,000 bytes (12.0 MB); Lambda allows 262,144,000 bytes for function "
        "and layers together, 856,000 bytes too many"
    )


def test_unmeasured_layers_are_named_when_the_total_is_already_over() -> None:
    conf = config(layer("common"))
    [message] = check_function_limits(
        conf, function(("common",), (VENDOR,)), {"common": 262_000_000}, 200_000
    )
    assert f"(not counted, size unknown: {VENDOR})" in message
    assert "56,000 bytes too many" in message


def test_incompatible_runtime_and_architecture() -> None:
    conf = config(layer("common"), layer("arm-only", compatible_architectures=("arm64",)))
    fn = function(("common", "arm-only"), runtime="python3.13")
    assert check_function_limits(conf, fn, {}, 0) == [
        "function 'orders' runs python3.13 but layer 'common' is compatible only with python3.11, python3.12",
        "function 'orders' runs python3.13 but layer 'arm-only' is compatible only with "
        "python3.11, python3.12",
        "function 'orders' runs on x86_64 but layer 'arm-only' is compatible only with arm64",
    ]


def test_empty_compatible_lists_restrict_nothing() -> None:
    conf = config(layer("any", compatible_runtimes=(), compatible_architectures=()))
    assert (
        check_function_limits(conf, function(("any",), runtime="nodejs22.x", architecture="arm64"), {}, 0)
        == []
    )


def test_layer_spec_limits() -> None:
    runtimes = LAMBDA_RUNTIMES[:16]
    spec = layer(
        "bad name!" + "x" * 140,
        description="d" * 300,
        compatible_runtimes=(*runtimes, "python2.7"),
        compatible_architectures=("x86_64", "arm64", "x86_64"),
    )
    problems = check_layer_spec(spec)
    assert len(problems) == 6
    assert "may only hold letters, digits, '-' and '_'" in problems[0]
    assert "the name is 149 characters, Lambda allows at most 140" in problems[1]
    assert "the description is 300 characters, Lambda allows at most 256" in problems[2]
    assert "17 compatible runtimes, Lambda allows at most 15" in problems[3]
    assert "3 compatible architectures, Lambda allows at most 2" in problems[4]
    assert "unknown Lambda runtime(s) python2.7" in problems[5]
    assert check_layer_spec(layer("fine_name-1", description="d" * 256)) == []


def test_raise_on_violations_collects_every_message() -> None:
    raise_on_violations([])
    with pytest.raises(LimitError) as one:
        raise_on_violations(["a is wrong"])
    assert str(one.value) == "Lambda limit exceeded: a is wrong"
    with pytest.raises(LimitError) as two:
        raise_on_violations(iter(["a is wrong", "b is wrong"]))
    assert str(two.value) == "2 Lambda limits exceeded: (1) a is wrong (2) b is wrong"
    assert two.value.exit_code == 1
