"""Building a run's targets: each layer once, under its plan's input key, in the order asked."""

from __future__ import annotations

from pathlib import Path

from layer_ci.build.targets import build_targets
from layer_ci.model import BuiltLayer, LayerSpec
from layer_ci.plan.changes import make_plan
from layer_ci.plan.lockfile import Lock
from tests.support.repos import config_of, layer_spec


def test_each_target_is_built_with_its_input_key_and_logged(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "tool.txt").write_text(name)
    config = config_of(tmp_path, (layer_spec(tmp_path / "a", "a"), layer_spec(tmp_path / "b", "b")))
    plan = make_plan(config, Lock())
    keys = {change.layer: change.input_key for change in plan.changes}
    calls: list[tuple[str, str, Path, Path | None]] = []
    logged: list[str] = []

    def build(spec: LayerSpec, out_dir: Path, *, input_key: str, cache_dir: Path | None = None) -> BuiltLayer:
        calls.append((spec.name, input_key, out_dir, cache_dir))
        return BuiltLayer(spec, out_dir / f"{spec.name}.zip", out_dir / "m.json", None)  # type: ignore[arg-type]

    out = tmp_path / "out"
    built = build_targets(
        config, plan, ["b", "a"], out, cache_dir=tmp_path / "cache", build=build, log=logged.append
    )

    assert [layer.spec.name for layer in built] == ["b", "a"]
    assert calls == [("b", keys["b"], out, tmp_path / "cache"), ("a", keys["a"], out, tmp_path / "cache")]
    assert logged == ["building b (files)", "building a (files)"]


def test_the_real_builder_is_the_default(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "tool.txt").write_text("a")
    config = config_of(tmp_path, (layer_spec(tmp_path / "a", "a"),))
    plan = make_plan(config, Lock())
    (built,) = build_targets(config, plan, ["a"], tmp_path / "out")
    assert built.zip_path == tmp_path / "out" / "a.zip" and built.zip_path.is_file()
    assert built.manifest.input_key == plan.changes[0].input_key
