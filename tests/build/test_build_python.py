"""Tests for python layers built with uv (and pip): target architecture, layout, determinism, clear failures.

These download a few small wheels from PyPI (marked ``network``); everything else stays on this machine.
"""

from __future__ import annotations

import os
import struct
import sys
import zipfile
from pathlib import Path

import pytest

from layer_ci.adapters import sandbox
from layer_ci.build.layer import build_layer
from layer_ci.build.python import PythonTarget, choose_installer, missing_wheel
from layer_ci.errors import BuildError, UsageError
from layer_ci.model import Architecture, BuildSpec, LayerSpec

EM_X86_64 = 62
EM_AARCH64 = 183
# Small, long-lived pins: markupsafe has compiled wheels for every target; charset-normalizer ships a
# console script; six is pure; docopt only ever published an sdist.
COMPILED = "markupsafe==3.0.2\n"
WITH_SCRIPT = "charset-normalizer==3.4.1\n"
PURE = "six==1.17.0\n"
SDIST_ONLY = "docopt==0.6.2\n"


def python_layer(
    tmp_path: Path,
    requirements: str,
    *,
    runtimes: tuple[str, ...] = ("python3.11",),
    architectures: tuple[Architecture, ...] = ("x86_64",),
    binary_only: bool = True,
    name: str = "deps",
) -> LayerSpec:
    source = tmp_path / f"src-{name}"
    source.mkdir(parents=True, exist_ok=True)
    (source / "requirements.txt").write_text(requirements)
    return LayerSpec(
        name=name,
        source=source,
        build=BuildSpec("python", "requirements.txt", binary_only=binary_only),
        compatible_runtimes=runtimes,
        compatible_architectures=architectures,
        regions=("us-east-1",),
    )


def elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF"
    endian = "<" if data[5] == 1 else ">"
    machine: int = struct.unpack(f"{endian}H", data[18:20])[0]
    return machine


def shared_objects(zip_path: Path) -> dict[str, int]:
    with zipfile.ZipFile(zip_path) as archive:
        return {name: elf_machine(archive.read(name)) for name in archive.namelist() if name.endswith(".so")}


@pytest.mark.network
def test_x86_64_layer_is_byte_identical_across_folders_umasks_and_caches_with_no_build_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = python_layer(tmp_path, COMPILED + WITH_SCRIPT)
    first = build_layer(spec, tmp_path / "out-a", input_key="sha256:k")
    previous = os.umask(0o077)
    try:
        monkeypatch.setenv("TMPDIR", str(tmp_path / "other-tmp"))
        (tmp_path / "other-tmp").mkdir()
        import tempfile

        monkeypatch.setattr(tempfile, "tempdir", None)  # let TMPDIR take effect for this build
        second = build_layer(
            spec, tmp_path / "out-b" / "deeper", input_key="sha256:k", cache_dir=tmp_path / "c"
        )
    finally:
        os.umask(previous)
    assert sandbox.owned_folder(sandbox.isolation(), tmp_path / "c" / "uv").is_dir(), "cache_dir is honoured"
    assert first.zip_path.read_bytes() == second.zip_path.read_bytes()
    assert first.manifest == second.manifest
    assert first.zip_path == tmp_path / "out-a" / "deps.zip"
    assert first.manifest_path == tmp_path / "out-a" / "deps.manifest.json"

    names = [name for name, _size in first.manifest.files]
    assert "python/markupsafe/__init__.py" in names
    assert not any(name.endswith((".pyc", "/INSTALLER", "/direct_url.json", ".lock")) for name in names)
    assert set(shared_objects(first.zip_path).values()) == {EM_X86_64}
    assert {(p.name.lower(), p.version) for p in first.manifest.packages} == {
        ("markupsafe", "3.0.2"),
        ("charset-normalizer", "3.4.1"),
    }
    with zipfile.ZipFile(first.zip_path) as archive:
        assert archive.read("python/bin/normalizer").startswith(b"#!/usr/bin/env python3\n")
        machine_paths = [
            b"layer-ci-build-",
            str(tmp_path).encode(),
            sys.prefix.encode(),
            sys.base_prefix.encode(),
        ]
        for info in archive.infolist():
            content = archive.read(info)
            for needle in machine_paths:
                assert needle not in content, f"{info.filename} embeds {needle!r}"


@pytest.mark.network
def test_arm64_layer_with_a_compiled_dependency_holds_aarch64_shared_objects(tmp_path: Path) -> None:
    spec = python_layer(tmp_path, COMPILED, runtimes=("python3.12",), architectures=("arm64",))
    built = build_layer(spec, tmp_path / "out", input_key="sha256:k")
    objects = shared_objects(built.zip_path)
    assert objects, "markupsafe ships a compiled speedups module"
    assert set(objects.values()) == {EM_AARCH64}
    assert all("cpython-312-aarch64-linux-gnu" in name for name in objects)
    assert built.manifest.architectures == ("arm64",)


@pytest.mark.network
@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_requirement_without_a_wheel_for_the_target_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, installer: str
) -> None:
    monkeypatch.setenv("LAYER_CI_INSTALLER", installer)
    spec = python_layer(tmp_path, PURE + SDIST_ONLY, architectures=("arm64",))
    with pytest.raises(BuildError) as error:
        build_layer(spec, tmp_path / "out", input_key="sha256:k")
    message = error.value.one_line()
    assert "no wheel of docopt for python3.11 on arm64" in message
    assert "binary_only" in message
    assert not (tmp_path / "out" / "deps.zip").exists()


@pytest.mark.network
def test_pip_fallback_builds_the_same_bytes_as_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = python_layer(tmp_path, COMPILED + WITH_SCRIPT, runtimes=("python3.12",), architectures=("arm64",))
    with_uv = build_layer(spec, tmp_path / "uv", input_key="sha256:k")
    monkeypatch.setenv("LAYER_CI_INSTALLER", "pip")
    assert choose_installer() == "pip"
    with_pip = build_layer(spec, tmp_path / "pip", input_key="sha256:k")
    assert set(shared_objects(with_pip.zip_path).values()) == {EM_AARCH64}
    assert with_pip.zip_path.read_bytes() == with_uv.zip_path.read_bytes()


@pytest.mark.network
def test_several_python_versions_with_compiled_wheels_get_one_site_packages_each(tmp_path: Path) -> None:
    spec = python_layer(tmp_path, COMPILED, runtimes=("python3.12", "python3.11"))
    built = build_layer(spec, tmp_path / "out", input_key="sha256:k")
    objects = shared_objects(built.zip_path)
    assert any(
        n.startswith("python/lib/python3.11/site-packages/markupsafe/") and "311" in n for n in objects
    )
    assert any(
        n.startswith("python/lib/python3.12/site-packages/markupsafe/") and "312" in n for n in objects
    )
    assert not any(name.startswith("python/markupsafe") for name, _ in built.manifest.files)


@pytest.mark.network
def test_pure_layer_for_several_versions_and_both_architectures_is_one_python_folder(tmp_path: Path) -> None:
    spec = python_layer(
        tmp_path, PURE, runtimes=("python3.11", "python3.12", "python3.13"), architectures=("x86_64", "arm64")
    )
    built = build_layer(spec, tmp_path / "out", input_key="sha256:k")
    names = {name for name, _ in built.manifest.files}
    assert "python/six.py" in names
    assert not any(name.startswith("python/lib/") for name in names)


@pytest.mark.network
def test_compiled_wheels_for_two_architectures_are_refused_with_the_fix(tmp_path: Path) -> None:
    spec = python_layer(tmp_path, COMPILED, architectures=("x86_64", "arm64"))
    with pytest.raises(
        BuildError, match=r"x86_64 and arm64 .*markupsafe/_speedups.* one layer per architecture"
    ):
        build_layer(spec, tmp_path / "out", input_key="sha256:k")


@pytest.mark.network
def test_hash_mismatch_is_refused(tmp_path: Path) -> None:
    spec = python_layer(tmp_path, "six==1.17.0 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(BuildError, match=r"layer deps: uv install for python3\.11 on x86_64 failed .*six"):
        build_layer(spec, tmp_path / "out", input_key="sha256:k")


@pytest.mark.network
def test_binary_only_false_builds_a_pure_sdist_for_another_architecture(tmp_path: Path) -> None:
    spec = python_layer(tmp_path, SDIST_ONLY, architectures=("arm64",), binary_only=False)
    built = build_layer(spec, tmp_path / "out", input_key="sha256:k")
    assert "python/docopt.py" in {name for name, _ in built.manifest.files}


def test_missing_requirements_file_names_the_field_and_the_fix(tmp_path: Path) -> None:
    spec = python_layer(tmp_path, PURE)
    (spec.source / "requirements.txt").unlink()
    with pytest.raises(
        BuildError, match=r"layers\.deps\.build\.requirements: .*requirements\.txt does not exist"
    ):
        build_layer(spec, tmp_path / "out", input_key="sha256:k")


def test_python_layer_without_a_python_runtime_is_refused(tmp_path: Path) -> None:
    spec = python_layer(tmp_path, PURE, runtimes=("nodejs20.x",))
    with pytest.raises(BuildError, match=r"compatible_runtimes: no python runtime listed \(nodejs20\.x\)"):
        build_layer(spec, tmp_path / "out", input_key="sha256:k")


def test_unknown_installer_setting_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYER_CI_INSTALLER", "poetry")
    with pytest.raises(UsageError, match="LAYER_CI_INSTALLER='poetry'"):
        choose_installer()


def test_targets_follow_the_runtimes_amazon_linux_glibc() -> None:
    assert PythonTarget("3.11", "x86_64").uv_platform == "x86_64-manylinux2014"
    assert PythonTarget("3.12", "arm64").uv_platform == "aarch64-manylinux_2_34"
    pip_tags = PythonTarget("3.11", "arm64").pip_platforms
    assert pip_tags[0] == "manylinux_2_17_aarch64" and "manylinux2014_aarch64" in pip_tags
    assert not any("x86_64" in tag for tag in pip_tags)
    assert PythonTarget("3.13", "x86_64").pip_platforms[0] == "manylinux_2_34_x86_64"


def test_installer_commands_target_the_runtime_and_honour_hashes_and_cache(tmp_path: Path) -> None:
    from layer_ci.build.python import _pip_argv, _uv_argv

    spec = python_layer(tmp_path, PURE)
    target = PythonTarget("3.12", "arm64")
    requirements = spec.source / "requirements.txt"
    isolation = sandbox.isolation()
    uv = _uv_argv(spec, target, tmp_path / "t", requirements, True, tmp_path / "cache", isolation)
    assert uv[1:3] == ["pip", "install"]
    for option, value in [
        ("--target", str(tmp_path / "t")),
        ("--python-version", "3.12"),
        ("--python-platform", "aarch64-manylinux_2_34"),
        ("--only-binary", ":all:"),
        ("--cache-dir", str(sandbox.owned_folder(isolation, tmp_path / "cache" / "uv"))),
        ("-r", str(requirements)),
    ]:
        assert uv[uv.index(option) + 1] == value
    assert "--require-hashes" in uv and "--no-build" not in uv
    # As the lasting cache's user, uv must not build anything whatever the file asks for (uv refuses
    # both flags at once).
    no_build = _uv_argv(
        spec, target, tmp_path / "t", requirements, True, None, sandbox.Isolation("none"), no_build=True
    )
    assert "--no-build" in no_build and "--only-binary" not in no_build and "--cache-dir" not in no_build
    pip = _pip_argv(spec, target, tmp_path / "t", requirements, False, tmp_path / "cache", isolation)
    assert pip[:4] == [sys.executable, "-m", "pip", "install"]
    assert pip[pip.index("--cache-dir") + 1] == str(
        sandbox.owned_folder(isolation, tmp_path / "cache" / "pip")
    )
    assert "manylinux2014_aarch64" in pip and "--only-binary=:all:" in pip and "--require-hashes" not in pip


@pytest.mark.parametrize(
    ("installer", "output", "name"),
    [
        ("uv", "hint: Wheels are required for `docopt` because building from source is disabled", "docopt"),
        (
            "uv",
            "Because markupsafe==2.1.1 has no usable wheels and you require markupsafe==2.1.1",
            "markupsafe",
        ),
        ("uv", "Because all versions of lxml have no wheels with a matching platform tag", "lxml"),
        ("pip", "ERROR: No matching distribution found for Docopt==0.6.2", "Docopt"),
        ("uv", "Because nothing-here was not found in the package registry", None),
    ],
)
def test_missing_wheel_is_parsed_from_installer_output(installer: str, output: str, name: str | None) -> None:
    assert missing_wheel(output, installer) == name  # type: ignore[arg-type]


@pytest.mark.network
def test_normalising_a_hard_linked_install_leaves_uv_cache_untouched(tmp_path: Path) -> None:
    import hashlib

    from uv import find_uv_bin

    from layer_ci.build.command import installer_env, run_untrusted

    cache = tmp_path / "cache"
    spec = python_layer(tmp_path, COMPILED + WITH_SCRIPT)
    # Filled as the build fills it: wheels from an index alone, so by layer-ci's own user (_runs_no_code).
    uv_cache = cache / "uv"
    plain = tmp_path / "plain"
    requirements = spec.source / "requirements.txt"
    filled = run_untrusted(
        [find_uv_bin(), "pip", "install", "-q", "--target", str(plain), "--python", sys.executable,
         "--cache-dir", str(uv_cache), "--python-version", "3.11",
         "--python-platform", "x86_64-manylinux2014", "--link-mode", "hardlink", "-r", str(requirements)],
        cwd=spec.source,
        env=installer_env(),
        timeout_s=300,
        what="filling uv's cache",
        isolation=sandbox.Isolation("none"),
    )  # fmt: skip
    assert filled.returncode == 0, filled.stdout

    def snapshot() -> dict[str, tuple[str, int]]:
        return {
            str(path.relative_to(cache)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
            for path in sorted(cache.rglob("*"))
            if path.is_file() and not path.is_symlink() and "archive-v" in str(path)
        }

    before = snapshot()
    assert any(name.endswith("RECORD") for name in before)
    built = build_layer(spec, tmp_path / "out", input_key="sha256:k", cache_dir=cache)
    assert snapshot() == before
    assert "python/bin/normalizer" in dict(built.manifest.files)


def test_the_uv_beside_the_interpreter_is_the_one_the_uv_package_finds() -> None:
    from uv import find_uv_bin

    from layer_ci.build.python import _uv_binary

    found = _uv_binary()
    assert found is not None
    assert os.path.dirname(found) == os.path.dirname(sys.executable)
    assert os.path.samefile(found, find_uv_bin())


def test_a_requirements_file_that_is_not_utf8_is_a_one_line_error_naming_its_line(tmp_path: Path) -> None:
    spec = python_layer(tmp_path, "six==1.17.0\n")
    (spec.source / "requirements.txt").write_bytes(b"six==1.17.0\nidna==3.10 \xff\xfe\n")
    with pytest.raises(BuildError) as raised:
        build_layer(spec, tmp_path / "out", input_key="k")
    assert str(raised.value).endswith(
        "requirements.txt:2: not UTF-8 text (byte 23); save the requirements file as UTF-8"
    )
    assert not (tmp_path / "out" / "deps.zip").exists()


def test_a_requirement_uv_cannot_parse_is_named_by_its_line(tmp_path: Path) -> None:
    # uv names a byte offset; the accented comment makes bytes and characters differ before the error.
    spec = python_layer(tmp_path, "# dépendances partagées\nsix==1.17.0\n\nrequests===\n")
    with pytest.raises(BuildError) as raised:
        build_layer(spec, tmp_path / "out", input_key="k")
    message = str(raised.value)
    assert "failed (requirements.txt:4): " in message, message
    assert "requests===" in message and "\n" not in message
    assert not (tmp_path / "out" / "deps.zip").exists()


@pytest.mark.network
def test_wheels_stay_cached_between_builds_even_when_the_installer_runs_as_another_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_user: int
) -> None:
    # Run by root, an installer in the sandbox gets a throwaway HOME, and its cache went with it: every
    # build downloaded every wheel again. Wheels from an index alone are installed as the lasting cache's
    # user (see below).
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "layer-ci-cache"))
    spec = python_layer(tmp_path, PURE)
    first = build_layer(spec, tmp_path / "first", input_key="k")
    monkeypatch.setenv("UV_OFFLINE", "1")  # uv answers from its cache alone, or fails
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    again = build_layer(spec, tmp_path / "again", input_key="k")
    assert again.zip_path.read_bytes() == first.zip_path.read_bytes()


def _tree(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.network
def test_local_packages_are_built_from_copies_the_same_every_time_without_writing_the_checkout(
    tmp_path: Path,
) -> None:
    # Built in place, setuptools writes build/ and *.egg-info into the package: that failed where the
    # installer runs as another user (root's sandbox, the Action), and dirtied the checkout elsewhere.
    shared = tmp_path / "repo" / "libs" / "shared"
    (shared / "shared").mkdir(parents=True)
    (shared / "shared" / "__init__.py").write_text("VALUE = 1\n")
    (shared / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "shared"\nversion = "1.0"\n'
    )
    (tmp_path / "layer-ci.yml").write_text("version: 1\n")  # tmp_path is the repository
    spec = python_layer(tmp_path, f"{PURE}{shared}\n", binary_only=False)
    before = _tree(tmp_path / "repo")

    first = build_layer(spec, tmp_path / "first", input_key="k")
    os.utime(shared, (1_000_000_000, 1_000_000_000))  # uv records the source's mtime: it must not show
    again = build_layer(spec, tmp_path / "again", input_key="k")

    assert _tree(tmp_path / "repo") == before
    names = {name for name, _ in first.manifest.files}
    assert "python/shared/__init__.py" in names and "python/six.py" in names
    assert not any(name.endswith(("uv_cache.json", "direct_url.json")) for name in names)
    assert again.zip_path.read_bytes() == first.zip_path.read_bytes()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run code as another user")
def test_only_an_install_that_runs_no_code_keeps_its_wheels_beyond_the_build(
    tmp_path: Path, cache_user: int
) -> None:
    # Whatever the sandbox's user may write, code it runs (an sdist's setup.py, a function's test, a
    # daemon either left) may fill with wheels for later builds to install: it never gets a lasting cache.
    code_uid = sandbox.isolation().drop
    assert code_uid is not None
    cache = tmp_path / "cache"
    build_layer(python_layer(tmp_path, PURE, name="wheels"), tmp_path / "a", input_key="k", cache_dir=cache)
    kept = sorted(cache.rglob("*"))
    assert (cache / f"uv-uid{cache_user}").is_dir() and len(kept) > 3
    assert {path.lstat().st_uid for path in kept} == {cache_user}
    assert not any(path.lstat().st_mode & 0o022 for path in kept if path.is_dir() and not path.is_symlink())
    sandboxed = python_layer(tmp_path, PURE, name="sdists-allowed", binary_only=False)
    built = build_layer(sandboxed, tmp_path / "b", input_key="k", cache_dir=cache)
    assert "python/six.py" in {name for name, _ in built.manifest.files}
    assert sorted(cache.rglob("*")) == kept


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run code as another user")
def test_without_a_user_for_the_lasting_cache_root_keeps_no_wheels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root itself never runs the installer (it would read `-r /root/...` on a requirements file's behalf),
    # and the sandbox's user may not keep a cache: with no third user, every build downloads again.
    monkeypatch.delenv(sandbox.CACHE_USER_ENV, raising=False)
    monkeypatch.setattr(sandbox, "DEFAULT_CACHE_USER", "no-such-user-for-layer-ci")
    cache = tmp_path / "cache"
    built = build_layer(python_layer(tmp_path, PURE), tmp_path / "a", input_key="k", cache_dir=cache)
    assert "python/six.py" in {name for name, _ in built.manifest.files}
    assert not any(path.is_file() for path in cache.rglob("*"))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run code as another user")
def test_where_the_lasting_cache_is_out_of_reach_uv_cache_dir_is_not_used_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_user: int
) -> None:
    # With no --cache-dir, the operator's UV_CACHE_DIR (passed to installers) would decide where the
    # cache's user writes, perhaps a folder the sandbox's user may write too: a throwaway one instead.
    operators = tmp_path / "uv-cache-dir"
    operators.mkdir(mode=0o777)
    operators.chmod(0o777)
    monkeypatch.setenv("UV_CACHE_DIR", str(operators))
    monkeypatch.setattr("layer_ci.build.command.own_build_cache", lambda _isolation: None)
    built = build_layer(python_layer(tmp_path, PURE), tmp_path / "out", input_key="k")
    assert "python/six.py" in {name for name, _ in built.manifest.files}
    assert list(operators.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run code as another user")
@pytest.mark.parametrize("checker_misses", [False, True], ids=["checked", "checker-missed"])
@pytest.mark.parametrize(
    "smuggled",
    [
        "six==1.17.0  # a comment ends the line, backslash or not \\\n-r {secret}\n",
        "\ufeff-r {secret}\n",
        "six==1.17.0\n--requirement {secret}\n",
    ],
    ids=["after-a-commented-backslash", "behind-a-byte-order-mark", "long-option"],
)
def test_a_requirements_file_cannot_have_root_files_read_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_user: int, smuggled: str, checker_misses: bool
) -> None:
    # Run by root, uv read `-r /root/...` for the file and named its lines as packages in its error (or
    # asked an index for them). Here the file lies beside the requirements, in a folder the installer reads.
    # Should _runs_no_code miss a way to name a file, the cache's user cannot read root's either.
    if checker_misses:
        monkeypatch.setattr("layer_ci.build.python._runs_no_code", lambda *_: True)
    spec = python_layer(tmp_path, "")
    secret = spec.source / "root-only.txt"
    secret.write_text("TOPSECRET-CONTENT==1\n")
    secret.chmod(0o600)
    (spec.source / "requirements.txt").write_text(smuggled.format(secret=secret))
    with pytest.raises(BuildError) as raised:
        build_layer(spec, tmp_path / "out", input_key="k", cache_dir=tmp_path / "cache")
    assert "topsecret" not in str(raised.value).lower()  # uv names packages in lower case
    assert "Permission denied (os error 13)" in str(raised.value), str(raised.value)
    assert (tmp_path / "cache" / f"uv-uid{cache_user}").exists() is checker_misses


@pytest.mark.parametrize(
    ("requirements", "runs_no_code"),
    [
        (f"{PURE}# a comment ./naming a path\n\n", True),
        ("six==1.17.0 \\\n    --hash=sha256:" + "0" * 64 + "\n", True),
        ("--index-url https://pypi.example/simple\n--extra-index-url=https://other.example\nsix\n", True),
        ("--pre\nrequests[socks]>=2 ; python_version >= '3.9'\n", True),
        ("six @ https://files.example/six-1.17.0-py2.py3-none-any.whl\n", True),
        ("\ufeffsix==1.17.0\n", True),
        ("-r base.txt\n", False),
        ("-c constraints.txt\nsix\n", False),
        ("-e ./pkg\n", False),
        ("./pkg\n", False),
        ("dist/six-1.17.0-py2.py3-none-any.whl\n", False),
        ("six-1.17.0-py2.py3-none-any.whl\n", False),
        ("six @ file:///root/six.whl\n", False),
        ("--find-links ./wheels\nsix\n", False),
        ("-i file:///root/index\nsix\n", False),
        ("six @ git+https://github.com/benjaminp/six\n", False),
        ("-r ${HOME}/.aws/credentials\n", False),
        ("--some-future-option x\nsix\n", False),
        ("--no-binary :all:\nsix\n", False),
        ("six  # pinned later \\\n-r /root/secret\n", False),
        ("\ufeff-r /root/secret\n", False),
        ("six\u2028-r /root/secret\n", False),
        ("six \\\n", True),
    ],
)
def test_what_keeps_its_cache_names_only_packages_of_indexes(
    tmp_path: Path, requirements: str, runs_no_code: bool
) -> None:
    from layer_ci.build.python import _runs_no_code

    (tmp_path / "layer-ci.yml").write_text("version: 1\n")  # tmp_path is the repository
    spec = python_layer(tmp_path, requirements)
    assert _runs_no_code(spec, "uv", spec.source / "requirements.txt") is runs_no_code


def test_sdists_or_pip_keep_the_sandboxs_user(tmp_path: Path) -> None:
    from layer_ci.build.python import _runs_no_code

    spec = python_layer(tmp_path, PURE)
    requirements = spec.source / "requirements.txt"
    assert _runs_no_code(spec, "uv", requirements)
    assert not _runs_no_code(spec, "pip", requirements)
    sdists = python_layer(tmp_path, PURE, name="sdists", binary_only=False)
    assert not _runs_no_code(sdists, "uv", sdists.source / "requirements.txt")


@pytest.mark.parametrize(
    ("pyproject", "found"),
    [
        ("[tool.uv.pip]\nfind-links = ['/root']\n", True),
        ("[tool]\nuv.cache-dir = '/tmp/x'\n", True),
        ('[tool."uv"]\nindex-url = "https://x"\n', True),
        ("[project]\nname = 'x'\n# [tool.uv] some day\n", False),
        ("[tool.ruff]\nline-length = 100\n", False),
        ("[tool.uv\n", True),  # not TOML: the sandboxed install names the problem
        ("# padding\n" * 600_000 + "[tool.uv]\n", True),  # beyond 4 MiB
    ],
    ids=["table", "dotted-key", "quoted-key", "comment", "other-tool", "broken", "huge"],
)
def test_the_repositorys_uv_settings_are_found_as_toml_reads_them(
    tmp_path: Path, pyproject: str, found: bool
) -> None:
    from layer_ci.build.python import _repository_uv_settings

    (tmp_path / "layer-ci.yml").write_text("version: 1\n")  # tmp_path is the repository
    spec = python_layer(tmp_path, PURE)
    (tmp_path / "pyproject.toml").write_text(pyproject)
    assert _repository_uv_settings(spec.source) is found


def test_uv_settings_as_links_fifos_or_uv_toml_count_and_the_search_stops_at_the_checkout(
    tmp_path: Path,
) -> None:
    from layer_ci.build.python import _repository_uv_settings

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "layer-ci.yml").write_text("version: 1\n")
    spec = python_layer(repo, PURE)
    (tmp_path / "uv.toml").write_text("")  # above the checkout: not the repository's
    assert not _repository_uv_settings(spec.source)
    (spec.source / "uv.toml").write_text("")
    assert _repository_uv_settings(spec.source)
    (spec.source / "uv.toml").unlink()
    os.mkfifo(repo / "pyproject.toml")  # never waited on
    assert _repository_uv_settings(spec.source)
    (repo / "pyproject.toml").unlink()
    (repo / "pyproject.toml").symlink_to(tmp_path / "elsewhere.toml")
    assert _repository_uv_settings(spec.source)


def test_a_local_package_beyond_the_repository_is_refused_before_anything_runs(tmp_path: Path) -> None:
    # Copied by layer-ci for the installer's user, `-e /root/.ssh` would hand root's keys to an sdist.
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "layer-ci.yml").write_text("version: 1\n")
    (tmp_path / "outside" / "pkg").mkdir(parents=True)
    spec = python_layer(tmp_path / "repo", f"-e {tmp_path / 'outside' / 'pkg'}\n", binary_only=False)
    with pytest.raises(BuildError) as raised:
        build_layer(spec, tmp_path / "out", input_key="k")
    assert str(raised.value) == (
        f"layer deps: local package {tmp_path / 'outside' / 'pkg'} lies outside the repository "
        f"({tmp_path / 'repo'}); move it into the repository"
    )


def _planted_wheel(folder: Path) -> None:
    """A six 99.0.0 wheel whose six.py says it was planted."""
    folder.mkdir(mode=0o755)
    info = "six-99.0.0.dist-info"
    files = {
        "six.py": "PLANTED = True\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: six\nVersion: 99.0.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(folder / "six-99.0.0-py3-none-any.whl", "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    (folder / "six-99.0.0-py3-none-any.whl").chmod(0o644)


@pytest.mark.network
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run code as another user")
@pytest.mark.parametrize(
    ("settings", "binary_only", "read"),
    [
        ("uv.toml", True, False),
        ("uv.toml", False, False),
        ("repo/uv.toml", True, True),
        ("repo/pyproject.toml", False, True),
    ],
    ids=["above-as-the-cache-user", "above-as-the-sandbox-user", "repository's", "repository's-pyproject"],
)
def test_uv_settings_above_the_checkout_are_never_read(
    monkeypatch: pytest.MonkeyPatch, cache_user: int, settings: str, binary_only: bool, read: bool
) -> None:
    # uv reads a uv.toml in the folder it runs in or any above it. /tmp is one, writable by the sandbox's
    # user: a daemon an earlier install left there could point every later build at its wheels. The
    # repository's own settings are read, by an install as the sandbox's user.
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="layer-ci-test-"))
    try:
        base.chmod(0o755)  # like /tmp: every user may read it, outside pytest's 0700 folders
        _planted_wheel(base / "planted")
        repo = base / "repo"
        repo.mkdir(mode=0o755)
        table = "[tool.uv.pip]\n" if settings.endswith("pyproject.toml") else ""
        (base / settings).write_text(f'{table}find-links = ["{base / "planted"}"]\n')
        (base / settings).chmod(0o644)
        shared_tmp = base / "tmp"
        shared_tmp.mkdir(mode=0o755)
        monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))  # the build's work folder goes here
        (repo / "layer-ci.yml").write_text("version: 1\n")
        spec = python_layer(repo, "six\n", binary_only=binary_only)
        for path in (spec.source, spec.source / "requirements.txt"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        built = build_layer(spec, base / "out", input_key="k", cache_dir=base / "cache")
        with zipfile.ZipFile(built.zip_path) as layer:
            assert ("PLANTED" in layer.read("python/six.py").decode()) is read
        assert (base / "cache" / f"uv-uid{cache_user}").exists() is (binary_only and not read)
    finally:
        shutil.rmtree(base)
