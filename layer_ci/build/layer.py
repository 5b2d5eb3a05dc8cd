"""Build one layer: stage its /opt layout with its build method, normalise it, zip it and describe it."""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from layer_ci.config.build_rules import require_buildable
from layer_ci.errors import BuildError
from layer_ci.model import BuiltLayer, LayerSpec

TEMP_PREFIX = "layer-ci-build-"
# What a build needs once its builder has staged the files. Loaded while the builder's installer runs
# (see load_finishing): the installer is most of a build's time, and Python is idle meanwhile.
FINISHING_MODULES = (
    "layer_ci.build.normalise",
    "layer_ci.build.zipper",
    "layer_ci.lambda_spec.native",
    "layer_ci.build.elf",
    "layer_ci.build.source_files",
    "layer_ci.build.manifest",
)


def load_finishing() -> None:
    """Import FINISHING_MODULES now (called while an installer runs in its own process)."""
    for name in FINISHING_MODULES:
        importlib.import_module(name)


def zip_path_for(out_dir: Path, layer: str) -> Path:
    return Path(out_dir) / f"{layer}.zip"


def build_layer(
    spec: LayerSpec, out_dir: Path, *, input_key: str | Callable[[], str], cache_dir: Path | None = None
) -> BuiltLayer:
    """Build ``spec`` into ``out_dir/<name>.zip`` and ``out_dir/<name>.manifest.json``.

    The same inputs give the same zip bytes on any machine, in any folder, at any time: staging happens in
    a fresh temporary folder, the tree is normalised, and the zip is deterministic. ``input_key`` may be a
    call that waits for a key being worked out meanwhile (see commands/build_command.py).
    """
    if not spec.source.is_dir():
        raise BuildError(
            f"{spec.location}: layers.{spec.name}.source: {spec.source} is not a folder; create it"
        )
    require_buildable(spec)  # what `layer-ci schema --check` finds from the config, in the same words
    # The key is that of the sources as they were, so it is settled before the build runs anything: a
    # build command (or a local package's setup.py) may write into the source folder. A binary-only
    # python install runs no project code and writes only into the work folder, so there the key is
    # worked out while the installer runs, in this thread: started earlier on a thread of its own, it
    # took the interpreter from the imports the installer was waiting for.
    runs_no_project_code = spec.build.method == "python" and spec.build.binary_only
    key = input_key() if callable(input_key) and not runs_no_project_code else input_key

    def while_installing() -> None:
        nonlocal key
        if callable(key):
            key = key()
        load_finishing()

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as temporary:
        temp_root = Path(temporary)
        staging, work = temp_root / "staging", temp_root / "work"
        staging.mkdir()
        work.mkdir()
        _stage(spec, staging, work, cache_dir, while_installing)
        if callable(key):  # a builder that had nothing to wait for
            key = key()
        from layer_ci.build.manifest import build_manifest, manifest_path, write_manifest
        from layer_ci.build.normalise import normalise_tree
        from layer_ci.build.zipper import ContentRefused, list_entries, write_entries
        from layer_ci.lambda_spec.native import require_loadable

        normalise_tree(staging)
        if spec.build.method != "nodejs":
            # The rules the test engine applies to a function's layers, here for every runtime and
            # architecture the layer claims. Not for nodejs: packages built with node-gyp-build ship
            # prebuilt binaries for every platform side by side and load the right one at run time.
            require_loadable(staging, spec.name, spec.compatible_architectures, spec.compatible_runtimes)
        entries = list_entries(staging)
        if not any(entry.kind != "dir" for entry in entries):
            raise BuildError(
                f"layer {spec.name}: the {spec.build.method} build produced no files; Lambda refuses an "
                "empty layer, so check the build's inputs"
            )
        zip_path = zip_path_for(out_dir, spec.name)
        # A tree that embeds its build folder's path would zip differently on every machine.
        build_paths = {os.fsencode(temp_root), os.fsencode(os.path.realpath(temp_root))}
        try:
            zip_sha256 = write_entries(entries, zip_path, refuse_content=build_paths)
        except ContentRefused as refused:
            raise _built_with_build_paths(spec.name, refused.members) from None
        manifest = build_manifest(
            layer=spec.name,
            input_key=key,
            zip_path=zip_path,
            zip_sha256=zip_sha256,
            entries=entries,
            staging=staging,
            runtime_targets=spec.compatible_runtimes,
            architectures=spec.compatible_architectures,
        )
    path = manifest_path(out_dir, spec.name)
    write_manifest(manifest, path)
    return BuiltLayer(spec=spec, zip_path=zip_path, manifest_path=path, manifest=manifest)


def _built_with_build_paths(layer: str, files: list[str]) -> BuildError:
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    return BuildError(
        f"layer {layer}: built files contain the build folder's path ({shown}), so the zip would differ "
        "between machines; make the build write relative paths (e.g. use $LAYER_CI_OUT only as a "
        "destination, not inside file contents)"
    )


def _stage(
    spec: LayerSpec, staging: Path, work: Path, cache_dir: Path | None, while_installing: Callable[[], None]
) -> None:
    # Each builder is imported when its method is used: a build loads one of them, not four.
    method = spec.build.method
    if method == "python":
        from layer_ci.build.python import build_python

        build_python(spec, staging, work, cache_dir=cache_dir, while_installing=while_installing)
    elif method == "nodejs":
        from layer_ci.build.nodejs import build_nodejs

        build_nodejs(spec, staging, work, cache_dir=cache_dir)
    elif method == "files":
        from layer_ci.build.files import build_files

        build_files(spec, staging)
    elif method == "command":
        from layer_ci.build.command import build_command

        build_command(spec, staging)
    else:  # the config schema allows only the four methods; a LayerSpec made by hand might not
        raise BuildError(
            f"{spec.location}: layers.{spec.name}.build.method: unknown method {method!r}; "
            "use python, nodejs, files or command"
        )
