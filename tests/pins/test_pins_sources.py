"""Which files are searched for pins: source only, never build output, vendored packages or ignored files.

The slice is a SAM app as the samples collections ship it: its template pins vendor layers, a committed
`pip install -t` folder carries botocore's example JSON (full of layer ARNs), and local builds left
.aws-sam/, cdk.out/, .serverless/ and node_modules/ behind, some ignored by .gitignore and some not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from layer_ci import cli
from layer_ci.adapters.git import source_files
from layer_ci.pins.find import find_pins, iter_text_files
from tests.support.repos import git, init_git_repo

POWERTOOLS = "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV2:{version}"
DATADOG = "arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Extension:{version}"

TEMPLATE = f"""\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Layers:
      - !Sub {POWERTOOLS.format(region="${AWS::Region}", version=68)}
Resources:
  HelloWorldFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello_world/
      Handler: app.lambda_handler
      Runtime: python3.12
      Layers:
        - {DATADOG.format(version=86)}
"""

# botocore ships example requests such as this one; a vendored copy must not count as the app's pins.
BOTOCORE_EXAMPLE = {
    "version": "1.0",
    "examples": {
        "AddLayerVersionPermission": [
            {
                "output": {
                    "Statement": json.dumps(
                        {"Resource": "arn:aws:lambda:us-east-2:123456789012:layer:xray-sdk-nodejs:1"}
                    )
                },
            }
        ],
        "GetLayerVersion": [
            {
                "input": {
                    "LayerName": "arn:aws:lambda:us-east-2:123456789012:layer:my-layer",
                    "VersionNumber": 1,
                },
                "output": {"LayerVersionArn": "arn:aws:lambda:us-east-2:123456789012:layer:my-layer:1"},
            }
        ],
    },
}


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def sam_app(root: Path) -> Path:
    write(root, "template.yaml", TEMPLATE)
    write(root, "hello_world/app.py", "def lambda_handler(event, context):\n    return {}\n")
    write(root, ".gitignore", ".aws-sam/\nsamconfig.local.toml\n*.log\n")
    # A function folder with its dependencies installed into it and committed (pip install -t).
    write(root, "legacy/app.py", f"# uses {POWERTOOLS.format(region='eu-west-1', version=40)}\n")
    write(root, "legacy/botocore/data/lambda/2015-03-31/examples-1.json", json.dumps(BOTOCORE_EXAMPLE))
    write(
        root,
        "legacy/botocore-1.34.0.dist-info/RECORD",
        "botocore/__init__.py,sha256=x,10\nbotocore-1.34.0.dist-info/RECORD,,\n",
    )
    write(root, "legacy/botocore-1.34.0.dist-info/METADATA", f"Summary: {DATADOG.format(version=1)}\n")
    write(root, "legacy/six.py", f"# {DATADOG.format(version=2)}\n")
    write(root, "legacy/six-1.16.0.dist-info/RECORD", "six.py,sha256=x,10\n")
    # Build output and tool state, committed by mistake or merely left on disk.
    for folder in (
        ".aws-sam/build",
        "cdk.out",
        ".serverless",
        "node_modules/some-sdk",
        "layer/python/lib/python3.12/site-packages/botocore",
        ".terraform/modules/x",
    ):
        write(root, f"{folder}/template.yaml", TEMPLATE.replace("86", "85"))
    write(root, "deploy.log", DATADOG.format(version=3))
    return root


def pins_by_file(root: Path) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for pin in find_pins(root):
        found.setdefault(pin.path, []).append(pin.version)
    return found


def test_git_checkout_reads_tracked_and_untracked_files_but_not_ignored_ones(tmp_path: Path) -> None:
    root = sam_app(tmp_path / "app")
    init_git_repo(root)
    # untracked, not ignored: a file the next commit will hold
    write(root, "new_stack.py", f'LAYER = "{POWERTOOLS.format(region="us-west-2", version=71)}"\n')
    write(root, "samconfig.local.toml", f'layers = "{DATADOG.format(version=4)}"\n')  # ignored
    (root / "template.yaml").unlink()  # tracked but deleted: listed by git, gone from disk
    write(root, "template.yml", TEMPLATE)
    assert pins_by_file(root) == {"legacy/app.py": [40], "new_stack.py": [71], "template.yml": [68, 86]}


def test_a_folder_outside_git_skips_the_same_build_and_vendor_folders(tmp_path: Path) -> None:
    root = sam_app(tmp_path / "app")
    # No git: .gitignore is not read, so deploy.log counts; every build and vendor folder is still skipped.
    assert pins_by_file(root) == {"deploy.log": [3], "legacy/app.py": [40], "template.yaml": [68, 86]}


def test_a_subfolder_of_a_checkout_lists_paths_relative_to_itself(tmp_path: Path) -> None:
    root = tmp_path / "mono"
    sam_app(root / "services" / "hello")
    write(root, "README.md", DATADOG.format(version=9))
    init_git_repo(root)
    listed = source_files(root / "services" / "hello")
    assert listed is not None and "template.yaml" in listed and "README.md" not in listed
    assert not any(path.startswith(".aws-sam/") for path in listed)
    assert pins_by_file(root / "services" / "hello") == {"legacy/app.py": [40], "template.yaml": [68, 86]}


def test_a_copy_in_a_folder_the_enclosing_checkout_ignores_is_read_as_outside_git(tmp_path: Path) -> None:
    # `make demo` copies the example to .demo/, which layer-ci's own checkout ignores: every pin was skipped.
    outer = tmp_path / "outer"
    write(outer, ".gitignore", ".demo/\n")
    write(outer, "README.md", "outer\n")
    init_git_repo(outer)
    demo = sam_app(outer / ".demo")
    assert source_files(demo) is None
    assert pins_by_file(demo) == {"deploy.log": [3], "legacy/app.py": [40], "template.yaml": [68, 86]}
    write(outer, "tracked/empty.txt", "")
    git(outer, "add", "-A")
    assert source_files(outer / "tracked") == ["empty.txt"]  # a folder git lists stays git's


def test_source_files_is_none_outside_a_work_tree(tmp_path: Path) -> None:
    assert source_files(tmp_path) is None
    assert source_files(tmp_path / "missing") is None


def test_symlinks_fifos_and_binaries_are_never_read(tmp_path: Path) -> None:
    root = tmp_path / "app"
    write(root, "template.yaml", TEMPLATE)
    outside = tmp_path / "outside.txt"
    outside.write_text(DATADOG.format(version=5))
    init_git_repo(root)
    os.symlink(outside, root / "link.txt")
    os.mkfifo(root / "pipe.txt")
    (root / "blob.bin").write_bytes(b"\0" + DATADOG.format(version=6).encode())
    git(root, "add", "link.txt", "blob.bin")
    assert pins_by_file(root) == {"template.yaml": [68, 86]}
    assert sorted(path for path, _ in iter_text_files(root)) == ["template.yaml"]
    assert "link.txt" in (source_files(root) or [])


CONFIG = """\
version: 1
settings:
  pins:
    exclude: [docs/, '**/testdata/*.json', CHANGELOG.md]
layers:
  shared:
    source: layers/shared
    build: {method: files}
    compatible_runtimes: [python3.12]
    regions: [us-east-1]
"""


def test_settings_pins_exclude_globs_follow_gitignore_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sam_app(tmp_path / "app")
    write(root, "layer-ci.yml", CONFIG)
    (root / "layers" / "shared").mkdir(parents=True)
    write(root, "docs/vendors.md", DATADOG.format(version=7))
    write(root, "tests/unit/testdata/event.json", json.dumps({"layer": DATADOG.format(version=8)}))
    write(root, "tests/unit/test_app.py", f"LAYER = '{DATADOG.format(version=10)}'\n")
    write(root, "CHANGELOG.md", DATADOG.format(version=11))
    init_git_repo(root)
    monkeypatch.chdir(root)
    assert cli.main(["pins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["pins"]
    paths = sorted({row["path"] for row in rows})
    assert paths == ["legacy/app.py", "template.yaml", "tests/unit/test_app.py"]
    assert {row["status"] for row in rows} == {"not-in-lock"}


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("3", "settings.pins.exclude[1]"),
        ("'['", "settings.pins.exclude[1]: '[' excludes nothing (blank, a # comment, or an unclosed '[')"),
        ("'# docs'", "settings.pins.exclude[1]: '# docs' excludes nothing"),
    ],
)
def test_a_bad_exclude_entry_is_a_one_line_config_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    entry: str,
    words: str,
) -> None:
    write(tmp_path, "layer-ci.yml", CONFIG.replace("exclude: [docs/, ", f"exclude: [docs/, {entry}, "))
    (tmp_path / "layers" / "shared").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["pins"]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
