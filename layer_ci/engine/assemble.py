"""The /opt stand-in: a function's layers merged in its order (later wins), cached by their SHA-256s."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from layer_ci.engine.extract import LayerTree, TreeEntry, discard, remove_tree, seal_tree
from layer_ci.errors import LayerCiError

OPT_FORMAT = "layer-ci opt v1"
# Hardlinks fail across filesystems (EXDEV), where the filesystem forbids them (EPERM, ENOTSUP), or
# once an inode has too many names (EMLINK, 65,000 on ext4): copying is always a correct fallback.
_COPY_INSTEAD = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES})


class LayerConflictError(LayerCiError):
    """Two layers disagree on what a path is (a file in one, a folder in another)."""


@dataclass(frozen=True)
class AssembledOpt:
    """A ready /opt stand-in; ``reused`` tells whether this call found it already assembled."""

    root: Path
    key: str
    layers: tuple[LayerTree, ...]
    names: tuple[str, ...]
    reused: bool


def opt_key(trees: Sequence[LayerTree]) -> str:
    """One key per ordered list of layer contents: the same layers in another order is another /opt."""
    material = "\n".join([OPT_FORMAT, *(tree.sha256 for tree in trees)])
    return hashlib.sha256(material.encode()).hexdigest()


def assemble_opt(
    trees: Sequence[LayerTree], cache_dir: Path, *, names: Sequence[str] | None = None
) -> AssembledOpt:
    """Return ``<cache>/opt/<key>/opt`` holding ``trees`` merged in order, building it on first use.

    Files are hardlinks into the (read-only) extracted trees, so a cold assembly of hundreds of
    megabytes costs one link per file and a warm one is a single lookup.
    """
    layer_names = tuple(names) if names is not None else tuple(tree.sha256[:12] for tree in trees)
    key = opt_key(trees)
    final = cache_dir / "opt" / key
    if (final / "opt").is_dir():
        return AssembledOpt(final / "opt", key, tuple(trees), layer_names, reused=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:16]}-", dir=final.parent))
    try:
        _build(trees, layer_names, work / "opt")
        seal_tree(work / "opt")
        try:
            os.rename(work, final)
        except OSError:
            if not (final / "opt").is_dir():
                raise
            remove_tree(work)
    except BaseException:
        remove_tree(work)
        raise
    return AssembledOpt(final / "opt", key, tuple(trees), layer_names, reused=False)


def merged_view(trees: Sequence[LayerTree]) -> dict[str, tuple[int, TreeEntry]]:
    """Each path of the assembled tree with the index of the layer whose copy wins, as Lambda merges."""
    merged: dict[str, tuple[int, TreeEntry]] = {}
    for index, tree in enumerate(trees):
        for entry in tree.entries:
            previous = merged.get(entry.path)
            if previous is not None and entry.kind == "dir" and previous[1].kind == "dir":
                continue
            merged[entry.path] = (index, entry)
    return merged


def find_conflicts(trees: Sequence[LayerTree], names: Sequence[str]) -> list[str]:
    """Paths one layer ships as a folder and another as a file or link: Lambda's merge is undefined."""
    kinds: dict[str, tuple[int, str]] = {}
    problems: list[str] = []
    for index, tree in enumerate(trees):
        for entry in tree.entries:
            previous = kinds.get(entry.path)
            if previous is not None and (previous[1] == "dir") != (entry.kind == "dir"):
                problems.append(
                    f"{entry.path} is a {previous[1]} in layer {names[previous[0]]} but a {entry.kind} in "
                    f"layer {names[index]}"
                )
            kinds[entry.path] = (index, entry.kind)
    return problems


def verify_opt(opt: AssembledOpt, *, limit: int = 20) -> list[str]:
    """Paths in the assembled tree that no longer match the layers (a test wrote into /opt).

    One ``lstat`` per file or link (folders are recognised from the directory listing alone): this runs
    after every test, over trees of thousands of files.
    """
    expected = merged_view(opt.layers)
    problems: list[str] = []
    matched = 0
    pending = [("", str(opt.root))]
    while pending and len(problems) < limit:
        relative_folder, folder = pending.pop()
        with os.scandir(folder) as listing:
            for item in listing:
                relative = f"{relative_folder}/{item.name}" if relative_folder else item.name
                found = expected.get(relative)
                if found is None:
                    problems.append(f"{relative} (added)")
                    continue
                matched += 1
                if found[1].kind == "dir" and item.is_dir(follow_symlinks=False):
                    pending.append((relative, item.path))
                elif not _matches(item, found[1]):
                    problems.append(f"{relative} (changed)")
    if not problems and matched != len(expected):
        present = {
            os.path.relpath(os.path.join(folder, name), opt.root)
            for folder, dirnames, filenames in os.walk(opt.root)
            for name in (*dirnames, *filenames)
        }
        problems.extend(f"{path} (removed)" for path in sorted(expected.keys() - present))
    return problems[:limit]


def discard_opt(opt: AssembledOpt) -> None:
    """Drop an assembled tree and the extracted layers it links to, so the next run rebuilds them."""
    discard(opt.root.parent)
    for tree in opt.layers:
        discard(tree.root.parent)


def _matches(item: os.DirEntry[str], entry: TreeEntry) -> bool:
    try:
        st = item.stat(follow_symlinks=False)
    except OSError:
        return False
    if entry.kind == "dir":
        return stat.S_ISDIR(st.st_mode)
    if entry.kind == "symlink":
        return stat.S_ISLNK(st.st_mode) and os.readlink(item.path) == entry.target
    return (
        stat.S_ISREG(st.st_mode)
        and st.st_size == entry.size
        and st.st_mtime_ns == entry.mtime * 1_000_000_000
    )


def _build(trees: Sequence[LayerTree], names: Sequence[str], root: Path) -> None:
    root.mkdir()
    root_text = str(root)
    placed: dict[str, tuple[str, int]] = {}
    can_link = True
    for index, tree in enumerate(trees):
        source_root = str(tree.root)
        for entry in tree.entries:
            destination = os.path.join(root_text, entry.path)
            previous = placed.get(entry.path)
            if previous is not None and (previous[0] == "dir") != (entry.kind == "dir"):
                raise LayerConflictError(
                    f"{entry.path} is a {previous[0]} in layer {names[previous[1]]} but a {entry.kind} in "
                    f"layer {names[index]}; Lambda cannot merge them: rename one of them"
                )
            if entry.kind == "dir":
                if previous is None:
                    os.mkdir(destination)
                    placed[entry.path] = ("dir", index)
                continue
            if previous is not None:
                os.unlink(destination)  # the later layer's file replaces the earlier one, as in Lambda
            if entry.kind == "symlink":
                assert entry.target is not None
                os.symlink(entry.target, destination)
            else:
                source = os.path.join(source_root, entry.path)
                if can_link:
                    try:
                        os.link(source, destination)
                    except OSError as exc:
                        if exc.errno not in _COPY_INSTEAD:
                            raise
                        can_link = False
                if not can_link:
                    shutil.copy2(source, destination)
            placed[entry.path] = (entry.kind, index)
    _check_links_inside(root, [path for path, (kind, _) in placed.items() if kind == "symlink"])


def _check_links_inside(root: Path, links: list[str]) -> None:
    # Each layer's links were checked alone; across layers a chain can still climb out of /opt.
    real_root = os.path.realpath(root)
    for link in links:
        resolved = os.path.realpath(os.path.join(root, link))
        if resolved != real_root and not resolved.startswith(real_root + os.sep):
            raise LayerConflictError(
                f"symlink {link} resolves outside /opt once the layers are merged; refusing to assemble"
            )
