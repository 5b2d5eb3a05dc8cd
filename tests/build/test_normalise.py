"""Tests for tree normalisation: bytecode, RECORD, installer notes, scripts, .pth, modes, build paths."""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

from layer_ci.build.normalise import (
    PORTABLE_SHEBANG,
    normalise_tree,
    record_hash,
)


def _record(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def make_install(site: Path, interpreter: str = "/opt/build/venv/bin/python3.11") -> Path:
    """A site folder as pip/uv --target leave it: bytecode, installer notes, a console script."""
    (site / "pkg" / "__pycache__").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("X = 1\n")
    (site / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\x00pyc with an mtime")
    (site / "pkg" / "stray.pyc").write_bytes(b"\x00pyc")
    (site / "bin").mkdir()
    script = site / "bin" / "pkg-cli"
    script.write_text(f"#!{interpreter}\n# -*- coding: utf-8 -*-\nimport pkg\n")
    script.chmod(0o700)
    dist_info = site / "pkg-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n")
    (dist_info / "INSTALLER").write_text("uv\n")
    (dist_info / "direct_url.json").write_text('{"url": "file:///home/someone/src/pkg"}')
    rows = [
        ["pkg/__init__.py", *record_hash(site / "pkg" / "__init__.py")],
        ["pkg/__pycache__/__init__.cpython-311.pyc", "", ""],
        ["bin/pkg-cli", *record_hash(script)],
        ["pkg-1.0.dist-info/METADATA", *record_hash(dist_info / "METADATA")],
        ["pkg-1.0.dist-info/INSTALLER", *record_hash(dist_info / "INSTALLER")],
        ["pkg-1.0.dist-info/direct_url.json", "", ""],
        ["pkg-1.0.dist-info/RECORD", "", ""],
    ]
    (dist_info / "RECORD").write_text(_record(rows[::-1]))  # installers do not promise an order
    return site


def test_bytecode_caches_and_installer_notes_are_removed(tmp_path: Path) -> None:
    site = make_install(tmp_path / "python")
    normalise_tree(tmp_path)
    assert not (site / "pkg" / "__pycache__").exists()
    assert (site / "pkg" / "stray.pyc").exists(), "a sourceless module outside __pycache__ is content"
    assert not (site / "pkg-1.0.dist-info" / "INSTALLER").exists()
    assert not (site / "pkg-1.0.dist-info" / "direct_url.json").exists()
    assert (site / "pkg" / "__init__.py").exists()


def test_record_keeps_only_present_files_sorted_with_fresh_hashes(tmp_path: Path) -> None:
    site = make_install(tmp_path / "python")
    normalise_tree(tmp_path)
    rows = list(csv.reader(io.StringIO((site / "pkg-1.0.dist-info" / "RECORD").read_text())))
    names = [row[0] for row in rows]
    assert names == sorted(names)
    assert names == [
        "bin/pkg-cli",
        "pkg-1.0.dist-info/METADATA",
        "pkg-1.0.dist-info/RECORD",
        "pkg/__init__.py",
    ]
    for row in rows:
        if row[0].endswith("RECORD"):
            assert row[1:] == ["", ""]
        else:
            assert row[1:] == record_hash(site / row[0]), f"{row[0]} hash must match the rewritten file"


def test_script_shebang_points_at_python3_on_path(tmp_path: Path) -> None:
    site = make_install(tmp_path / "python", interpreter="/home/runner/work/x/.venv/bin/python3.11")
    normalise_tree(tmp_path)
    lines = (site / "bin" / "pkg-cli").read_bytes().split(b"\n")
    assert lines[0] == PORTABLE_SHEBANG
    assert lines[1:3] == [b"# -*- coding: utf-8 -*-", b"import pkg"]


def test_long_path_sh_launcher_is_replaced(tmp_path: Path) -> None:
    site = make_install(tmp_path / "python")
    (site / "bin" / "pkg-cli").write_text(
        "#!/bin/sh\n'''exec' \"/path with spaces/bin/python\" \"$0\" \"$@\"\n' '''\nimport pkg\n"
    )
    dist_info = site / "pkg-1.0.dist-info"
    normalise_tree(tmp_path)
    assert (site / "bin" / "pkg-cli").read_text() == "#!/usr/bin/env python3\nimport pkg\n"
    assert "/path with spaces" not in (dist_info / "RECORD").read_text()


def test_shebangs_of_files_not_installed_by_a_package_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "tool"
    tool.write_text("#!/usr/bin/python3\nprint('mine')\n")
    normalise_tree(tmp_path)
    assert tool.read_text() == "#!/usr/bin/python3\nprint('mine')\n"


def test_rewrites_do_not_touch_hard_linked_originals(tmp_path: Path) -> None:
    site = make_install(tmp_path / "python")
    cache_copy = tmp_path / "cache-script"
    os.link(site / "bin" / "pkg-cli", cache_copy)
    before = cache_copy.read_bytes()
    normalise_tree(tmp_path / "python")
    assert cache_copy.read_bytes() == before
    assert (site / "bin" / "pkg-cli").read_bytes() != before


def test_modes_are_normalised_on_disk(tmp_path: Path) -> None:
    site = make_install(tmp_path / "python")
    (site / "pkg" / "__init__.py").chmod(0o600)
    (site / "pkg").chmod(0o700)
    normalise_tree(tmp_path)
    assert stat.S_IMODE((site / "pkg" / "__init__.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((site / "bin" / "pkg-cli").stat().st_mode) == 0o755
    assert stat.S_IMODE((site / "pkg").stat().st_mode) == 0o755


def test_pth_lines_pointing_into_the_tree_become_relative(tmp_path: Path) -> None:
    site = tmp_path / "python" / "lib" / "python3.12" / "site-packages"
    (site / "extra").mkdir(parents=True)
    (site / "extra.pth").write_text(f"{site / 'extra'}\nimport os\n/usr/lib/python3/dist-packages\n")
    normalise_tree(tmp_path)
    assert (site / "extra.pth").read_text() == "extra\nimport os\n/usr/lib/python3/dist-packages\n"


def test_normalising_twice_changes_nothing(tmp_path: Path) -> None:
    make_install(tmp_path / "python")
    normalise_tree(tmp_path)
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    normalise_tree(tmp_path)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot


def test_console_scripts_are_regenerated_from_entry_points_whatever_the_installer(tmp_path: Path) -> None:
    launchers = {
        "pip": "#!/build/bin/python\nimport re\nfrom pkg.cli import main\nsys.exit(main())\n",
        "uv": "#!/other/python3.12\n# -*- coding: utf-8 -*-\nimport sys\nfrom pkg.cli import main\n",
    }
    results = {}
    for installer, text in launchers.items():
        site = make_install(tmp_path / installer / "python")
        (site / "bin" / "pkg-cli").write_text(text)
        (site / "pkg-1.0.dist-info" / "entry_points.txt").write_text(
            "[console_scripts]\npkg-cli = pkg.cli:Main.run [extra]\n\n[other]\nx = y:z\n"
        )
        normalise_tree(tmp_path / installer)
        results[installer] = (site / "bin" / "pkg-cli").read_text()
        record = (site / "pkg-1.0.dist-info" / "RECORD").read_text()
        assert f"bin/pkg-cli,{','.join(record_hash(site / 'bin' / 'pkg-cli'))}" in record
    assert results["pip"] == results["uv"]
    assert results["uv"].startswith("#!/usr/bin/env python3\n")
    assert "from pkg.cli import Main\n" in results["uv"]
    assert "sys.exit(Main.run())" in results["uv"]


def test_pip_target_record_lines_for_scripts_are_relocated(tmp_path: Path) -> None:
    site = make_install(tmp_path / "python")
    record = site / "pkg-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text().replace("bin/pkg-cli,", "../../bin/pkg-cli,"))
    normalise_tree(tmp_path)
    text = record.read_text()
    assert "../../bin" not in text
    assert text.startswith("bin/pkg-cli,sha256=")
    assert (site / "bin" / "pkg-cli").read_bytes().startswith(PORTABLE_SHEBANG)


def test_package_files_with_shebangs_are_left_as_published(tmp_path: Path) -> None:
    site = make_install(tmp_path / "python")
    module = site / "pkg" / "tool.py"
    module.write_text("#!/usr/bin/python3\nprint('run me')\n")
    record = site / "pkg-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + f"pkg/tool.py,{','.join(record_hash(module))}\n")
    normalise_tree(tmp_path)
    assert module.read_text() == "#!/usr/bin/python3\nprint('run me')\n"
    assert (site / "bin" / "pkg-cli").read_bytes().startswith(PORTABLE_SHEBANG)
