"""Tests for layer manifests: packages found, stable JSON round trips, and diffs classed by version part."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layer_ci.build.manifest import (
    PackageChange,
    canonicalize_name,
    classify_change,
    diff_manifests,
    manifest_from_zip,
    manifest_to_json,
    read_manifest,
    write_manifest,
)
from layer_ci.build.zipper import write_zip
from layer_ci.errors import UsageError
from layer_ci.model import Manifest, PackageInfo


def manifest(packages: dict[str, str], files: dict[str, int] | None = None, zipped: int = 100) -> Manifest:
    files = files or {"python/x.py": 10}
    return Manifest(
        layer="deps",
        input_key="sha256:abc",
        zip_sha256="f" * 64,
        zipped_bytes=zipped,
        unzipped_bytes=sum(files.values()),
        files=tuple(sorted(files.items())),
        packages=tuple(PackageInfo(name, version) for name, version in packages.items()),
        runtime_targets=("python3.12",),
        architectures=("arm64",),
    )


def make_layer_tree(root: Path) -> Path:
    dist = root / "python" / "lib" / "python3.12" / "site-packages" / "Requests-2.32.3.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: Requests\nVersion: 2.32.3\nSummary: x\n\nbody\n"
    )
    (root / "python" / "six-1.17.0.dist-info").mkdir(parents=True)
    (root / "python" / "six-1.17.0.dist-info" / "METADATA").write_text("Name: six\nVersion: 1.17.0\n")
    modules = root / "nodejs" / "node_modules"
    for relative, name, version in [
        ("is-number", "is-number", "7.0.0"),
        ("@aws-sdk/util", "@aws-sdk/util", "3.1.0"),
        ("outer/node_modules/is-number", "is-number", "6.0.0"),
    ]:
        (modules / relative).mkdir(parents=True)
        (modules / relative / "package.json").write_text(json.dumps({"name": name, "version": version}))
    (modules / "is-number" / "lib").mkdir()
    (modules / "is-number" / "lib" / "package.json").write_text('{"name": "not-a-package", "version": "0"}')
    (modules / ".package-lock.json").write_text("{}")
    (modules / "outer" / "package.json").write_text('{"private": true}')  # no name/version: not listed
    return root


def test_packages_come_from_dist_info_and_node_modules(tmp_path: Path) -> None:
    tree = make_layer_tree(tmp_path / "tree")
    sha = write_zip(tree, tmp_path / "layer.zip")
    described = manifest_from_zip(tmp_path / "layer.zip", layer="mixed", input_key="sha256:k", zip_sha256=sha)
    assert [(p.name, p.version) for p in described.packages] == [
        ("@aws-sdk/util", "3.1.0"),
        ("is-number", "6.0.0"),
        ("is-number", "7.0.0"),
        ("Requests", "2.32.3"),
        ("six", "1.17.0"),
    ]
    assert described.unzipped_bytes == sum(size for _, size in described.files)
    assert described.zipped_bytes == (tmp_path / "layer.zip").stat().st_size


def test_json_is_stable_and_round_trips(tmp_path: Path) -> None:
    original = manifest({"six": "1.17.0", "idna": "3.10"}, {"python/b.py": 2, "python/a.py": 1})
    text = manifest_to_json(original)
    assert text == manifest_to_json(original)
    document = json.loads(text)
    assert list(document) == sorted(document)
    assert document["files"] == {"python/a.py": 1, "python/b.py": 2}
    assert document["format"] == 1
    write_manifest(original, tmp_path / "out" / "deps.manifest.json")
    assert read_manifest(tmp_path / "out" / "deps.manifest.json") == original
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["deps.manifest.json"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "JSONDecodeError"),
        ('{"format": 7}', "ValueError: format 7 is not 1"),
        ('{"format": 1}', "KeyError"),
    ],
)
def test_bad_manifest_is_a_one_line_usage_error(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "deps.manifest.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=rf"deps\.manifest\.json: not a layer-ci manifest \({problem}"):
        read_manifest(path)


def test_missing_manifest_says_to_build(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="manifest not found; run `layer-ci build` first"):
        read_manifest(tmp_path / "nope.manifest.json")


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("1.2.3", "2.0.0", "major"),
        ("1.2.3", "1.3.0", "minor"),
        ("1.2.3", "1.2.4", "patch"),
        ("2.32.3", "2.32.2", "patch"),
        ("1.2", "1.2.1", "patch"),
        ("2.9.0", "2.9.0.post0", "other"),
        ("1.0.0rc1", "1.0.0", "other"),
        ("1.2.3.4", "1.2.3.5", "other"),
        ("1!1.0", "2!1.0", "major"),
        ("7.0.0-beta.1", "7.0.0", "other"),
        ("not a version", "also not", "other"),
    ],
)
def test_changes_are_classed_by_the_first_release_part_that_moved(old: str, new: str, kind: str) -> None:
    assert classify_change(old, new) == kind


def test_diff_lists_added_removed_and_changed_packages_with_sizes() -> None:
    old = manifest(
        {"six": "1.16.0", "idna": "3.7", "urllib3": "1.26.20", "Gone": "0.1", "same": "1.0"},
        {"python/six.py": 100, "python/old.py": 5},
        zipped=1_000,
    )
    new = manifest(
        {"six": "1.17.0", "IDNA": "3.10", "urllib3": "2.2.3", "fresh": "4.0", "same": "1.0"},
        {"python/six.py": 120, "python/new.py": 7, "python/more.py": 1},
        zipped=1_250,
    )
    diff = diff_manifests(old, new)
    assert diff.added == (PackageInfo("fresh", "4.0"),)
    assert diff.removed == (PackageInfo("Gone", "0.1"),)
    assert diff.changed == (
        PackageChange("IDNA", "3.7", "3.10", "minor"),
        PackageChange("six", "1.16.0", "1.17.0", "minor"),
        PackageChange("urllib3", "1.26.20", "2.2.3", "major"),
    )
    assert diff.zipped_delta == 250
    assert diff.unzipped_delta == (120 + 7 + 1) - (100 + 5)
    assert (diff.files_added, diff.files_removed) == (2, 1)
    assert not diff.packages_unchanged
    assert diff_manifests(new, new).packages_unchanged


def test_diff_of_a_name_at_several_versions_compares_the_highest() -> None:
    old = manifest({"is-number": "6.0.0"})
    new = Manifest(
        **{**old.__dict__, "packages": (PackageInfo("is-number", "6.0.0"), PackageInfo("is-number", "7.0.0"))}
    )
    (change,) = diff_manifests(old, new).changed
    assert change == PackageChange("is-number", "6.0.0", "6.0.0, 7.0.0", "major")
    assert not change.is_downgrade
    assert PackageChange("x", "2.0", "1.9", "major").is_downgrade


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aAzZ09-_.~ ", max_size=12))
def test_canonical_names_match_packaging(name: str) -> None:
    from packaging.utils import canonicalize_name as packaging_canonicalize_name

    assert canonicalize_name(name) == packaging_canonicalize_name(name)


def _email_headers(content: bytes) -> dict[str, str]:
    """What email's parser (which layer-ci used before) reads for Name and Version."""
    from email.parser import BytesHeaderParser

    headers = BytesHeaderParser().parsebytes(content)
    return {key: value for key in ("name", "version") if (value := headers.get(key)) is not None}


REAL_METADATA = b"""Metadata-Version: 2.1
Name: charset-normalizer
Version: 3.4.1
Summary: The Real First Universal Charset Detector.
Keywords: encoding,charset,charset-detector
Classifier: Development Status :: 5 - Production/Stable
Requires-Python: >=3.7
Description-Content-Type: text/markdown
License-File: LICENSE

Name: not-this-one
Version: 0.0.0 (the body is never read)
"""


@pytest.mark.parametrize(
    "content",
    [
        REAL_METADATA,
        REAL_METADATA.replace(b"\n", b"\r\n"),
        b"name: lower\nVERSION: 2\n",
        b"Name: first\nName: second\nVersion: 1\n",
        b"Name: folded\n  onto two lines\nVersion:\t1.0  \n",
        b"Summary: x\nName : spaced\nVersion: 1\n",  # a space before the colon ends the header block
        b"Version: 1\nnot a header\nName: late\n",
        b"  leading continuation\nName: n\nVersion: 1\n",
        b"Name:\nVersion: 1\n",
        b":empty name\nName: n\nVersion: 1",
    ],
)
def test_metadata_headers_read_as_email_reads_them(content: bytes) -> None:
    from layer_ci.build.manifest import metadata_headers

    assert metadata_headers(content, ("name", "version")) == _email_headers(content)


HEADER_LINES = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["Name", "name", "Version", "VERSION", "Summary", "X-Y"]),
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
        ).map(lambda pair: f"{pair[0]}:{pair[1]}"),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8).map(lambda text: " " + text),
        st.just(""),
        st.sampled_from(["Name : x", "garbage", "\tindented"]),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(lines=HEADER_LINES, ending=st.sampled_from(["\n", "\r\n", "\r"]))
def test_metadata_headers_agree_with_email_on_any_header_block(lines: list[str], ending: str) -> None:
    from layer_ci.build.manifest import metadata_headers

    content = ending.join(lines).encode("ascii")
    expected = {
        key: value.replace("\r\n", "\n").replace("\r", "\n") for key, value in _email_headers(content).items()
    }
    assert metadata_headers(content, ("name", "version")) == expected


def test_reading_package_metadata_loads_no_email_parser(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from layer_ci.build.manifest import collect_packages\n"
        "found = collect_packages(['a-1.dist-info/METADATA'], lambda name: b'Name: a\\nVersion: 1\\n')\n"
        "print([(p.name, p.version) for p in found], 'email' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[('a', '1')] False"
