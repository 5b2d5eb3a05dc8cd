"""Tests for the command-line front end: one-line errors and exit codes, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from layer_ci import __version__, cli
from layer_ci.errors import ConfigError, Location


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_python_dash_m_entry_point_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "layer_ci", "--version"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"layer-ci {__version__}"


def test_version_loads_no_command_module() -> None:
    # `--version` is the fixed cost floor: it must not pay for argparse trees of twelve commands.
    probe = (
        "import sys\n"
        "from layer_ci import cli\n"
        "try:\n    cli.main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('layer_ci.commands.', 'ruamel', 'boto'))))\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.splitlines()[-1] == "[]"
    assert completed.stdout.splitlines()[0] == f"layer-ci {__version__}"


def test_config_error_renders_as_one_line_with_file_line_field_and_fix() -> None:
    error = ConfigError(
        Location("layer-ci.yml", 7), "layers.x.source", "folder 'nope'\nis missing", "create it"
    )
    assert error.one_line() == "layer-ci.yml:7: layers.x.source: folder 'nope' is missing; create it"
    assert error.exit_code == 2


# --- paths the user gave, and readers that go away ------------------------------------------------

TINY_CONFIG = """\
version: 1
settings:
  registry: local
layers:
  tools:
    source: layers/tools
    build: {method: files}
    compatible_runtimes: [python3.11]
    regions: [us-east-1]
functions:
  fn:
    source: functions/fn
    runtime: python3.11
    handler: app.handler
    layers: [tools]
    test: [python, -m, pytest, -q]
"""


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "layers" / "tools" / "bin").mkdir(parents=True)
    (root / "layers" / "tools" / "bin" / "hi").write_text("#!/bin/sh\necho hi\n")
    (root / "functions" / "fn" / "tests").mkdir(parents=True)
    (root / "functions" / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (root / "functions" / "fn" / "tests" / "test_app.py").write_text("def test_ok():\n    assert True\n")
    (root / "layer-ci.yml").write_text(TINY_CONFIG)
    (root / "a-file").write_text("in the way\n")
    return root


def layer_ci(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "layer_ci", *args], cwd=root, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--out", "a-file"], "cannot write a-file: File exists; choose a writable path"),
        (
            ["build", "--out", "/proc/x"],
            "cannot write /proc/x: No such file or directory; choose a writable path",
        ),
        (
            ["test", "fn", "--layer", "tools=local", "--cache-dir", "/proc/nope"],
            "cannot write /proc/nope: No such file or directory; choose a writable path",
        ),
        (
            ["test", "fn", "--layer", "tools=local", "--junit-xml", "/proc/nope/x.xml"],
            "cannot write /proc/nope/x.xml: No such file or directory (/proc/nope); choose a writable path",
        ),
    ],
    ids=["out-is-a-file", "out-unwritable", "cache-dir-unwritable", "junit-xml-unwritable"],
)
def test_unusable_paths_from_the_command_line_are_one_line_usage_errors(
    tiny_repo: Path, args: list[str], message: str
) -> None:
    completed = layer_ci(tiny_repo, *args)
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.splitlines()[-1] == f"layer-ci: error: {message}"
    assert "Traceback" not in completed.stderr and "internal error" not in completed.stderr


def test_an_os_error_about_a_path_nobody_gave_is_still_reported_as_a_bug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def broken(_args: object) -> int:
        raise PermissionError(13, "Permission denied", "/var/lib/somewhere/internal.json")

    monkeypatch.setattr("layer_ci.commands.build_command.run", broken)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "--out", "dist"]) == 70
    assert "internal error (a bug, not your input): PermissionError" in capsys.readouterr().err


def test_a_reader_that_goes_away_ends_the_command_quietly(tiny_repo: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `layer-ci plan --json | head -c 10` once head has exited
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "layer_ci", "plan", "--json"],
            cwd=tiny_repo,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert completed.returncode == cli.EXIT_BROKEN_PIPE == 141
    assert completed.stderr == ""


def _commands_loaded(argv: list[str]) -> list[str]:
    probe = (
        "import sys\nfrom layer_ci.cli import build_parser\n"
        f"build_parser({argv!r})\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('layer_ci.commands.'))))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return completed.stdout.split()


def test_naming_a_command_loads_only_its_module() -> None:
    plan_only = ["layer_ci.commands.plan_command"]
    assert _commands_loaded(["--config", "ci/layer-ci.yml", "plan", "--json"]) == plan_only
    everything = [f"layer_ci.commands.{name}_command" for name in cli.COMMANDS]
    assert _commands_loaded(["-h", "plan"]) == sorted(everything)  # top-level help lists them all
    assert _commands_loaded(["nope"]) == sorted(everything)  # so does the error for an unknown one


def test_dispatch_still_reaches_the_named_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["schema", "--help"])
    assert "usage: layer-ci schema" in capsys.readouterr().out


def test_a_happy_build_loads_neither_jsonschema_nor_pyelftools_nor_the_test_engine(
    tiny_repo: Path,
) -> None:
    # Both are needed only when something is wrong (a config error to word) or compiled (an ELF file to
    # check); paying for them on every build was most of the fixed cost (issue #17). Nor the builders of
    # other methods; and once the config memo holds the config, neither the YAML parser (ruamel) nor the
    # email parser (which the first parse of the config pulls in).
    probe = (
        "import sys\n"
        "from layer_ci import cli\n"
        "code = cli.main(['build', 'tools', '--out', 'dist'])\n"
        "heavy = {m.split('.')[0] for m in sys.modules} & {'jsonschema', 'elftools', 'email', 'ruamel'}\n"
        "engine = {m for m in sys.modules if m in ('layer_ci.engine.runner', 'layer_ci.engine.invoke')}\n"
        "other = {m for m in sys.modules if m in ('layer_ci.build.python', 'layer_ci.build.nodejs')}\n"
        "print(code, sorted(heavy | engine | other))\n"
    )
    loaded = []
    for _ in range(2):
        completed = subprocess.run(
            [sys.executable, "-c", probe], cwd=tiny_repo, capture_output=True, text=True, check=False
        )
        loaded.append(completed.stdout.splitlines()[-1] if completed.stdout else completed.stderr)
    assert loaded[0] in ("0 []", "0 ['email', 'ruamel']", "0 ['ruamel']"), loaded
    assert loaded[1] == "0 []", loaded


def test_the_program_entry_runs_main_collects_rarely_and_spares_the_last_collection(tiny_repo: Path) -> None:
    import tomllib

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["layer-ci"] == "layer_ci.cli:run"
    probe = (
        "import gc, sys\n"
        "from layer_ci import cli\n"
        "sys.argv = ['layer-ci', 'build', 'tools', '--out', 'dist']\n"
        "before = gc.get_freeze_count()\n"
        "default = gc.get_threshold()\n"
        "code = cli.run()\n"
        "print(code, before == 0 < gc.get_freeze_count(), default, gc.get_threshold())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tiny_repo, capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "0 True (700, 10, 10) (20000, 10, 10)", done.stderr
    assert (tiny_repo / "dist" / "tools.zip").is_file()
