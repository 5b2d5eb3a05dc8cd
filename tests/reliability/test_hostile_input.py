"""Hostile input end to end: evil layer zips through `layer-ci test --layer x=evil.zip`, and hostile
names, titles, branches and strings through the Action (entrypoint.py as the runner starts it).

Each zip is refused before any function code runs: one ``layer-ci: refused:`` line naming the zip and the
entry, a non-zero exit, no traceback, nothing written outside the cache, and the function's tests (a
canary that would record that it ran) never start. The extractor's own unit tests, one per hostile
shape, are in tests/engine/test_engine_extract.py; this file proves the same refusals hold end to end.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.engine_support import HOST_ARCH, HOST_RUNTIME, Entry, file, link, tree_snapshot, write_zip
from tests.reliability.reliability_support import Run, Shop
from tests.support.command_line import run_layer_ci

CONFIG = f"""\
version: 1
layers:
  common:
    source: layers/common
    build: {{method: files}}
    compatible_runtimes: [{HOST_RUNTIME}]
    compatible_architectures: [{HOST_ARCH}]
functions:
  canary:
    source: functions/canary
    runtime: {HOST_RUNTIME}
    architecture: {HOST_ARCH}
    handler: app.handler
    layers: [common]
    test: [python, ran.py]
"""

# name -> (entries, words the one-line error must contain)
HOSTILE: dict[str, tuple[list[Entry], str]] = {
    "traversal": ([file("python/../../../../evil.py", "x = 1\n")], "contains '..'"),
    "absolute-path": ([file("/tmp/layer-ci-evil-absolute.py", "x = 1\n")], "absolute path"),
    "outward-symlink": ([link("python/escape", "../../../../../outside")], "outside the layer"),
    "absolute-symlink": ([link("python/passwd", "/etc/passwd")], "absolute target"),
    "ratio-bomb": ([file("python/zeros.bin", bytes(16 * 1024 * 1024))], "zip bomb"),
    "duplicate-entries": ([file("python/x.py", "a = 1\n"), file("python/x.py", "a = 2\n")], "more than once"),
    "duplicate-after-normalising": (
        [file("python/x.py", "1"), file("./python//x.py", "2")],
        "more than once",
    ),
    "write-through-symlink": ([link("python/d", "."), file("python/d/y.py", "2")], "ambiguous"),
}


REFUSALS = ("layer-ci: error:", "layer-ci: refused:")


def make_canary_repo(tmp_path: Path, tests_script: str | None = None, *, canary: Path | None = None) -> Path:
    """One ``files`` layer and one function whose "tests" are ``ran.py``.

    Without ``tests_script``, ``ran.py`` records that function code ran at all (it must never, for a bad
    zip) in the file ``canary``, which must sit where the code's user may write (see ``code_writable``).
    """
    root = tmp_path / "repo"
    (root / "layers" / "common" / "python").mkdir(parents=True)
    (root / "layers" / "common" / "python" / "common.py").write_text("VALUE = 1\n")
    function = root / "functions" / "canary"
    function.mkdir(parents=True)
    (function / "app.py").write_text("def handler(event, context):\n    return 1\n")
    if tests_script is not None:
        (function / "ran.py").write_text(tests_script)
        (root / "layer-ci.yml").write_text(CONFIG)
        return root
    assert canary is not None
    (function / "ran.py").write_text(
        "import os, pathlib\npathlib.Path(os.environ['CANARY_FILE']).write_text('ran')\n"
    )
    (root / "layer-ci.yml").write_text(CONFIG + "    environment: {CANARY_FILE: " + str(canary) + "}\n")
    return root


@pytest.fixture
def canary(code_writable: Path) -> Path:
    return code_writable / "ran"


@pytest.fixture
def repo(tmp_path: Path, canary: Path) -> Path:
    return make_canary_repo(tmp_path, canary=canary)


def _layer_ci(repo: Path, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return run_layer_ci(repo / "layer-ci.yml", *args, cache=cache)


def test_a_good_zip_runs_the_canary(repo: Path, tmp_path: Path, canary: Path) -> None:
    """The control: the same command with a well-formed zip does run the function's tests."""
    good = write_zip(tmp_path / "good.zip", [file("python/common.py", "VALUE = 2\n")])
    done = _layer_ci(repo, "test", "canary", "--layer", f"common={good}", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert canary.read_text() == "ran"


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_zip_is_refused_before_any_code_runs(
    repo: Path, tmp_path: Path, canary: Path, case: str
) -> None:
    entries, words = HOSTILE[case]
    evil = write_zip(tmp_path / "zips" / "evil.zip", entries)
    if case == "duplicate-after-normalising":
        assert len(zipfile.ZipFile(evil).namelist()) == 2
    cache = tmp_path / "cache"
    before = tree_snapshot(tmp_path)

    done = _layer_ci(repo, "test", "canary", "--layer", f"common={evil}", cache=cache)

    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith(REFUSALS)]
    assert len(errors) == 1, done.stderr
    assert str(evil) in errors[0] and words in errors[0], errors[0]
    assert not canary.exists(), "function code ran against a hostile layer"
    after = tree_snapshot(tmp_path)
    # The config memo is the command loading layer-ci.yml, whatever the zip: not the zip's doing.
    memo = {"repo/.layer-ci", "repo/.layer-ci/cache", "repo/.layer-ci/cache/config.json"}
    outside_cache = {
        path for path in after if path not in before and not path.startswith("cache") and path not in memo
    }
    assert outside_cache == set(), outside_cache
    assert all(after[path] == size for path, size in before.items() if not path.startswith("cache"))
    assert not Path("/tmp/layer-ci-evil-absolute.py").exists()


# ------------------------------------------------------------------- hostile names through the Action
#
# Strings a pull request or a payload controls (fork names, titles, branch names, descriptions, file names,
# test output, argv) carrying shell metacharacters, newlines and workflow commands. None may run as a
# command (a canary file would appear) or reach the runner as a command, an annotation or an output.

CANARY = Path("/tmp/PWNED_layer_ci_hostile")
SHELL = f"$(touch {CANARY}) `touch {CANARY}` ; touch {CANARY} && touch {CANARY} | touch {CANARY}"
INJECT = "\n::set-output name=published::pwned\n::add-mask::pwned\n%0A::error::injected%0D::warning::x"
ALLOWED_COMMANDS = re.compile(r"^::(group|endgroup|error|warning|notice|add-mask)(::| [^\n]*?::)")


def assert_no_injection(run: Run, *, masks: set[str]) -> None:
    """Only layer-ci's own workflow commands on stdout, only its five outputs, no canary."""
    assert not CANARY.exists(), "a hostile string ran as a shell command"
    for line in run.stdout.splitlines():
        if not line.startswith("::"):
            assert "pwned" not in line.split(":", 1)[0], line
            continue
        assert ALLOWED_COMMANDS.match(line), f"unexpected workflow command: {line!r}"
        if line.startswith("::add-mask::"):
            assert line.removeprefix("::add-mask::") in masks, line
        # A real newline arrives as %0A (inside the message); a literal "%0A" must arrive as "%250A", or
        # the runner would decode it into a line break.
        assert "%0A::error::injected" not in line, line
    assert set(run.outputs) == {"changed-layers", "published", "pull-requests", "matrix", "tests-passed"}
    assert "pwned" not in run.outputs["published"]
    json.loads(run.outputs["published"])
    assert run.output_file is not None
    names = [
        line.split("<<", 1)[0]
        for line in run.output_file.read_text().splitlines()
        if "<<ghadelimiter_" in line
    ]
    assert sorted(names) == sorted(run.outputs), names


def secrets_of(shop: Shop) -> set[str]:
    """What the Action masks in these runs: the AWS secret and session token, the GitHub token and the
    Basic-auth form git sends it in."""
    token = shop.linked.standin.token
    return {"testing", token, base64.b64encode(f"x-access-token:{token}".encode()).decode()}


@pytest.fixture
def no_canary() -> Iterator[None]:
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists()
    CANARY.unlink(missing_ok=True)


def test_hostile_strings_in_a_push_run_are_inert(shop: Shop, no_canary: None) -> None:
    from tests.reliability.reliability_support import arn

    config = shop.workspace / "layer-ci.yml"
    failing = f"import sys; print({INJECT!r}); sys.exit({INJECT!r} + {SHELL!r})"
    text = config.read_text()
    text = text.replace(
        'test: [python, -c, "import tools; assert tools.VERSION >= 1, tools.VERSION"]',
        "test: "
        + json.dumps(["python", "-c", failing, SHELL])
        + "\n    environment: "
        + json.dumps({"HOSTILE": SHELL + INJECT}),
    )
    text = text.replace(
        "    regions: [us-east-1, eu-west-1]",
        "    regions: [us-east-1, eu-west-1]\n    description: " + json.dumps(f"$(touch {CANARY}){INJECT}"),
    )
    config.write_text(text)
    layer = shop.workspace / "layers" / "tools" / "python"
    (layer / "evil ::set-output name=published::pwned %0A $(touch x).txt").write_text(SHELL + INJECT)
    shop.commit_and_push("hostile strings everywhere")
    shop.change_layer(2)
    shop.fresh_checkout()

    run = shop.run(label="hostile-push")
    assert run.returncode == 1, run.stdout + run.stderr  # the orders "tests" fail, on purpose
    assert run.outputs["tests-passed"] == "false"
    assert json.loads(run.outputs["published"]) == {
        "tools": {r: arn(r, 2) for r in ("us-east-1", "eu-west-1")}
    }
    failure = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert failure and "orders" in failure[0]
    assert_no_injection(run, masks=secrets_of(shop))
    assert "Traceback" not in run.stdout + run.stderr


def test_a_fork_with_hostile_names_gets_an_escaped_warning_only(shop: Shop, no_canary: None) -> None:
    head = shop.head
    hostile_fork = f"mallory/x{SHELL}{INJECT}"
    payload = shop.pull_request_payload(7, head, head, fork=hostile_fork)
    payload["pull_request"]["title"] = "Bump " + SHELL + INJECT
    payload["pull_request"]["head"]["ref"] = f"feature/{SHELL}{INJECT}"
    run = shop.run(event="pull_request", sha=head, payload=payload, ref="refs/pull/7/merge", label="fork")
    assert run.returncode == 0, run.stdout + run.stderr
    warnings = [line for line in run.stdout.splitlines() if line.startswith("::warning")]
    assert len(warnings) == 1 and "%0A::set-output" in warnings[0] and "%250A::error" in warnings[0]
    assert_no_injection(run, masks=secrets_of(shop))


def test_hostile_layer_and_function_names_are_refused_in_one_escaped_annotation(
    shop: Shop, no_canary: None
) -> None:
    config = shop.workspace / "layer-ci.yml"
    bad = "tools" + SHELL + INJECT
    config.write_text(config.read_text().replace("  tools:\n", f"  {json.dumps(bad)}:\n", 1))
    shop.commit_and_push("a hostile layer name")
    run = shop.run(label="hostile-config")
    assert run.returncode == 2, run.stdout + run.stderr
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and errors[0].startswith("::error file=layer-ci.yml,line=")
    assert "not a valid layer name" in errors[0]
    assert_no_injection(run, masks=secrets_of(shop))


def test_a_push_to_a_hostile_branch_name_only_plans(shop: Shop, no_canary: None) -> None:
    ref = f"refs/heads/x{SHELL}%0A::set-output name=published::pwned"
    run = shop.run(ref=ref, label="hostile-ref")
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.outputs["published"]) == {}
    assert "not the default branch" in run.summary
    assert_no_injection(run, masks=secrets_of(shop))


def test_hostile_inputs_are_named_in_an_escaped_error(shop: Shop, no_canary: None) -> None:
    run = shop.run(
        event="workflow_dispatch",
        env={"LAYER_CI_LAYERS": "tools" + INJECT, "LAYER_CI_REGIONS": SHELL},
        label="hostile-inputs",
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert_no_injection(run, masks=secrets_of(shop))
