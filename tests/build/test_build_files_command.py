"""Tests for the ``files`` and ``command`` build methods and the checks every build goes through."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from layer_ci.adapters import sandbox
from layer_ci.build.layer import build_layer
from layer_ci.errors import BuildError
from layer_ci.model import Architecture, BuildSpec, LayerSpec


def layer(
    source: Path,
    build: BuildSpec,
    *,
    architectures: tuple[Architecture, ...] = ("x86_64",),
) -> LayerSpec:
    return LayerSpec(
        name="tools",
        source=source,
        build=build,
        compatible_runtimes=("python3.12",),
        compatible_architectures=architectures,
        regions=("us-east-1",),
    )


def _source(tmp_path: Path) -> Path:
    """A source folder others may read, as a checkout is (pytest's tmp_path is root's, mode 0700)."""
    source = tmp_path / "src"
    source.mkdir(mode=0o755, exist_ok=True)
    return source


def tools_folder(tmp_path: Path) -> Path:
    source = tmp_path / "tools"
    (source / "bin").mkdir(parents=True)
    (source / "lib").mkdir()
    (source / "bin" / "slugify").write_text("#!/bin/sh\necho slug\n")
    (source / "bin" / "slugify").chmod(0o700)
    (source / "lib" / "data.txt").write_text("data\n")
    (source / "bin" / "slug").symlink_to("slugify")
    return source


def test_files_layer_is_copied_with_exec_bits_and_in_tree_links(tmp_path: Path) -> None:
    built = build_layer(layer(tools_folder(tmp_path), BuildSpec("files")), tmp_path / "out", input_key="k")
    with zipfile.ZipFile(built.zip_path) as archive:
        assert archive.getinfo("bin/slugify").external_attr >> 16 == stat.S_IFREG | 0o755
        assert archive.getinfo("lib/data.txt").external_attr >> 16 == stat.S_IFREG | 0o644
        assert stat.S_ISLNK(archive.getinfo("bin/slug").external_attr >> 16)
    assert dict(built.manifest.files) == {"bin/slug": len("slugify"), "bin/slugify": 20, "lib/data.txt": 5}
    assert built.manifest.unzipped_bytes == 7 + 20 + 5
    assert built.manifest.zipped_bytes == built.zip_path.stat().st_size


def test_files_layer_leaves_out_what_its_input_key_skips(tmp_path: Path) -> None:
    from layer_ci.plan.inputs import input_key

    source = tools_folder(tmp_path)
    spec = layer(source, BuildSpec("files"))
    key = input_key(spec, tmp_path)
    for relative in (".DS_Store", "lib/.DS_Store", ".git/HEAD", ".layer-ci/cache/x", "lib/__pycache__/m.pyc"):
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text("never shipped\n")
    (source / "lib" / "sourceless.pyc").write_bytes(b"\x00shipped on purpose")
    built = build_layer(spec, tmp_path / "out", input_key="k")
    with zipfile.ZipFile(built.zip_path) as archive:
        files = sorted(name for name in archive.namelist() if not name.endswith("/"))
    assert files == ["bin/slug", "bin/slugify", "lib/data.txt", "lib/sourceless.pyc"]
    # The key follows the zip: only the .pyc that ships changed it.
    (source / "lib" / "sourceless.pyc").unlink()
    assert input_key(spec, tmp_path) == key


def test_files_layer_with_a_link_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    source = tools_folder(tmp_path)
    (tmp_path / "secret.txt").write_text("not for the layer")
    (source / "lib" / "secret").symlink_to("../../secret.txt")
    with pytest.raises(BuildError, match=r"lib/secret: symlink to '\.\./\.\./secret\.txt' points outside"):
        build_layer(layer(source, BuildSpec("files")), tmp_path / "out", input_key="k")
    assert not (tmp_path / "out" / "tools.zip").exists()


def test_binary_for_another_architecture_is_refused(tmp_path: Path) -> None:
    source = tools_folder(tmp_path)
    shutil.copy(sys.executable, source / "bin" / "native")  # this machine's (x86_64) ELF interpreter
    build_layer(layer(source, BuildSpec("files")), tmp_path / "ok", input_key="k")
    with pytest.raises(
        BuildError, match=r"bin/native is x86_64 machine code but layer tools is compatible only with arm64"
    ):
        build_layer(
            layer(source, BuildSpec("files"), architectures=("arm64",)), tmp_path / "out", input_key="k"
        )
    # Two architectures: shipping both machines' binaries side by side is legitimate.
    build_layer(
        layer(source, BuildSpec("files"), architectures=("x86_64", "arm64")), tmp_path / "b", input_key="k"
    )


def test_empty_layer_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty" / "bin").mkdir(parents=True)
    with pytest.raises(BuildError, match="produced no files"):
        build_layer(layer(tmp_path / "empty", BuildSpec("files")), tmp_path / "out", input_key="k")


BUILD_SCRIPT = """\
import os, pathlib, sys
out = pathlib.Path(os.environ["LAYER_CI_OUT"])
(out / "bin").mkdir()
tool = out / "bin" / "hello"
tool.write_text("#!/bin/sh\\necho hello\\n")
tool.chmod(0o755)
(out / "env.txt").write_text(
    " ".join(sorted(k for k in os.environ if not k.startswith(("LC_CTYPE", "PYTHON")))) + "\\n"
    + os.environ["SOURCE_DATE_EPOCH"] + " " + os.environ["LAYER_CI_ARCHITECTURES"] + "\\n"
    + pathlib.Path.cwd().name + "\\n"
)
"""


def test_command_fills_the_out_folder_from_the_source_with_a_scrubbed_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "cmd-src"
    source.mkdir()
    (source / "build.py").write_text(BUILD_SCRIPT)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    spec = layer(source, BuildSpec("command", command=(sys.executable, "build.py")))
    built = build_layer(spec, tmp_path / "out", input_key="k")
    with zipfile.ZipFile(built.zip_path) as archive:
        assert archive.getinfo("bin/hello").external_attr >> 16 == stat.S_IFREG | 0o755
        env_names, details, cwd = archive.read("env.txt").decode().splitlines()
    # Code handed to another user gets a TMPDIR of its own: the machine's may not be writable by it.
    handed_over = ["TMPDIR"] if sandbox.isolation().drop else []
    assert env_names.split() == sorted(
        ["HOME", "LAYER_CI_ARCHITECTURES", "LAYER_CI_LAYER", "LAYER_CI_OUT", "LAYER_CI_RUNTIMES", "LC_ALL",
         "PATH", "SOURCE_DATE_EPOCH", "TZ", *handed_over]
    )  # fmt: skip
    assert details == "315532800 x86_64"
    assert cwd == "cmd-src"


def test_failing_command_reports_its_exit_code_and_last_output(tmp_path: Path) -> None:
    script = "import sys\nfor i in range(40):\n    print(f'step {i}')\nsys.exit('compiler exploded')\n"
    source = _source(tmp_path)
    (source / "fail.py").write_text(script)
    spec = layer(source, BuildSpec("command", command=(sys.executable, "fail.py")))
    with pytest.raises(BuildError) as error:
        build_layer(spec, tmp_path / "out", input_key="k")
    message = error.value.one_line()
    assert "exited with 1" in message and "compiler exploded" in message and "step 39" in message
    assert "step 0 " not in message, "only the tail is shown"


def test_missing_program_and_timeout_are_build_errors(tmp_path: Path) -> None:
    from layer_ci.build.command import build_command

    spec = layer(_source(tmp_path), BuildSpec("command", command=("no-such-program-xyz", "layer")))
    with pytest.raises(BuildError, match="program 'no-such-program-xyz' not found"):
        build_layer(spec, tmp_path / "out", input_key="k")
    slow = layer(
        _source(tmp_path),
        BuildSpec("command", command=(sys.executable, "-c", "print('working');import time;time.sleep(30)")),
    )
    with pytest.raises(BuildError, match=r"timed out after 0\.5 s"):
        build_command(slow, tmp_path, timeout_s=0.5)


def test_command_writing_its_build_folder_into_files_is_refused(tmp_path: Path) -> None:
    script = (
        "import os, pathlib\n"
        "out = pathlib.Path(os.environ['LAYER_CI_OUT'])\n"
        "(out / 'prefix.cfg').write_text(str(out))\n"
    )
    source = _source(tmp_path)
    (source / "leak.py").write_text(script)
    spec = layer(source, BuildSpec("command", command=(sys.executable, "leak.py")))
    with pytest.raises(BuildError, match=r"contain the build folder's path \(prefix\.cfg\)"):
        build_layer(spec, tmp_path / "out", input_key="k")


def test_missing_source_folder_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"layers\.tools\.source: .* is not a folder"):
        build_layer(layer(tmp_path / "nope", BuildSpec("files")), tmp_path / "out", input_key="k")
    assert not os.path.exists(tmp_path / "out")


def test_installers_get_their_own_settings_and_no_secret() -> None:
    from layer_ci.build.command import installer_env

    caller = {
        "PATH": "/usr/bin",
        "HOME": "/home/dev",
        "HTTPS_PROXY": "http://proxy:3128",
        "SSL_CERT_FILE": "/etc/ssl/ca.pem",
        "UV_INDEX_URL": "https://pypi.internal/simple",
        "PIP_EXTRA_INDEX_URL": "https://mirror/simple",
        "npm_config_registry": "https://npm.internal",
        "UV_PUBLISH_TOKEN": "pypi-upload-token",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_ACCESS_KEY_ID": "AKIA",
        "GITHUB_TOKEN": "ghs_x",
        "LAYER_CI_GITHUB_TOKEN": "ghs_y",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc",
    }
    assert installer_env(caller) == {
        "PATH": "/usr/bin",
        "HOME": "/home/dev",
        "HTTPS_PROXY": "http://proxy:3128",
        "SSL_CERT_FILE": "/etc/ssl/ca.pem",
        "UV_INDEX_URL": "https://pypi.internal/simple",
        "PIP_EXTRA_INDEX_URL": "https://mirror/simple",
        "npm_config_registry": "https://npm.internal",
    }


def test_the_input_key_is_of_the_sources_before_a_command_build_writes_into_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unsandboxed, so the command may write into its source folder as a careless build script would.
    monkeypatch.setenv("LAYER_CI_SANDBOX", "off")
    source = tmp_path / "gen"
    source.mkdir()
    (source / "build.py").write_text(
        "import os, pathlib\n"
        "pathlib.Path('generated.txt').write_text('made by the build')\n"
        "pathlib.Path(os.environ['LAYER_CI_OUT'], 'out.txt').write_text('x')\n"
    )
    seen: list[bool] = []

    def key() -> str:
        seen.append((source / "generated.txt").exists())
        return "k"

    spec = layer(source, BuildSpec("command", command=(sys.executable, "build.py")))
    built = build_layer(spec, tmp_path / "out", input_key=key)
    assert seen == [False]
    assert (source / "generated.txt").exists()
    assert built.manifest.input_key == "k"


def test_a_binary_only_python_install_runs_while_its_input_key_is_still_being_worked_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The installer runs no project code there (wheels only), so waiting for the key first only delays it.
    import layer_ci.build.python as python_builder

    events: list[str] = []

    def install(
        spec: LayerSpec,
        staging: Path,
        work: Path,
        *,
        while_installing: Callable[[], None],
        **_options: object,
    ) -> None:
        events.append("installer started")
        while_installing()
        events.append("installed")
        (staging / "python").mkdir()
        (staging / "python" / "mod.py").write_text("x = 1\n")

    monkeypatch.setattr(python_builder, "build_python", install)

    def key() -> str:
        events.append("key")
        return "k"

    source = tmp_path / "deps"
    source.mkdir()
    (source / "requirements.txt").write_text("")
    for binary_only, expected in (
        (True, ["installer started", "key", "installed"]),
        (False, ["key", "installer started", "installed"]),
    ):
        events.clear()
        spec = layer(source, BuildSpec("python", binary_only=binary_only))
        built = build_layer(spec, tmp_path / f"out-{binary_only}", input_key=key)
        assert events == expected
        assert built.manifest.input_key == "k"


def test_an_input_key_that_fails_while_the_installer_runs_stops_the_build_with_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import layer_ci.build.python as python_builder

    def install(
        spec: LayerSpec, staging: Path, work: Path, *, while_installing: Callable[[], None], **_: object
    ) -> None:
        while_installing()
        (staging / "python").mkdir()
        (staging / "python" / "mod.py").write_text("x = 1\n")

    monkeypatch.setattr(python_builder, "build_python", install)

    def key() -> str:
        raise BuildError("deps: cannot read layers/deps/requirements.txt")

    source = tmp_path / "deps"
    source.mkdir()
    (source / "requirements.txt").write_text("")
    with pytest.raises(BuildError, match="cannot read"):
        build_layer(layer(source, BuildSpec("python")), tmp_path / "out", input_key=key)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
