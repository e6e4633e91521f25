"""Write artifacts into dist/: all or nothing, never outside it, only when the bytes change.

``manifest.json`` lists every artifact (path, media type, sha256, size); files a previous
manifest listed that are no longer produced are removed, nothing else is touched.

A build is all or nothing for what clients see: changed files are first written into a
staging folder inside dist/ (``.livepipe-stage-<id>/``, which no manifest lists, so
``livepipe serve`` never serves it); only when every file is there are they renamed into
place (renames need no disk space), then stale files removed and the manifest replaced. A
full disk or a failed render leaves the previous dist/ as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import secrets
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from .errors import RenderError
from .render.context import Artifact

MANIFEST = "manifest.json"
STAGE_PREFIX = ".livepipe-stage-"


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def safe_join(root: Path, rel: str, *, _seen: dict[Path, bool] | None = None) -> Path:
    """``root/rel``, refusing absolute paths, ``..`` and anything that resolves outside root
    (a symlinked folder inside it included). ``_seen`` caches checked folders for a build."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in rel or rel == ".":
        raise RenderError(f"refusing to write outside the output folder: {rel!r}")
    target = root / pure
    parent = target.parent
    inside = None if _seen is None else _seen.get(parent)
    if inside is None:
        real_root = root.resolve()
        real = parent.resolve()
        inside = real == real_root or real.is_relative_to(real_root)
        if inside and target.is_symlink():
            inside = target.resolve().is_relative_to(real_root)
        if _seen is not None:
            _seen[parent] = inside
    if not inside:
        raise RenderError(f"refusing to write outside the output folder: {rel!r}")
    return target


def _equal(path: str, data: bytes) -> bool:
    """Is ``path`` a regular file holding exactly ``data``? (A symlink never is: it is
    replaced by the file, not read through.)"""
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and st.st_size == len(data):
            with open(path, "rb") as fh:
                return fh.read() == data
    except FileNotFoundError:
        pass
    return False


def _write_new(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise


def write_file(
    path: str | Path, data: bytes, *, made: set[str] | None = None, force: bool = False
) -> bool:
    """Atomically replace ``path`` with ``data``; False (and no write) when already equal,
    unless ``force``. ``made``: folders this process already created (skips a mkdir per
    file)."""
    path = os.fspath(path)
    if not force and _equal(path, data):
        return False
    parent, name = os.path.split(path)
    if made is None or parent not in made:
        os.makedirs(parent or ".", exist_ok=True)
        if made is not None:
            made.add(parent)
    tmp = os.path.join(parent, f".{name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True


class Written(NamedTuple):
    """One file of dist/ as the manifest lists it, and whether this build changed its bytes.
    (A named tuple: a warm build makes one for each of 60k files it keeps, and a frozen
    dataclass took three times as long to make.)"""

    path: str
    media_type: str
    sha256: str
    size: int
    changed: bool
    # its new bytes, in the staging folder until ``finish`` (not part of what was written)
    staged: str | None = None


_ODD_NAMES = frozenset({"", ".", ".."})


class _Paths:
    """Where a relative path of an output folder is: ``safe_join``, checked once per
    folder; later files in it only need a plain name (the folder's path was plain when
    safe_join accepted it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._base = str(root)
        self._seen: dict[Path, bool] = {}  # for safe_join
        self._checked: set[str] = set()  # folders (relative) safe_join has accepted

    def target(self, rel: str) -> str:
        folder, _, name = rel.rpartition("/")
        if folder in self._checked and name not in _ODD_NAMES and "\\" not in name:
            return f"{self._base}/{rel}"
        target = safe_join(self.root, rel, _seen=self._seen)
        self._checked.add(folder)
        return str(target)


class OutputDir:
    """dist/ during one build: ``put`` each artifact as it is rendered (forked render workers
    do, so files are written in parallel and their bytes never travel back to the parent),
    then ``finish`` with every entry: stale files removed, manifest written."""

    def __init__(self, root: Path, manifest: str = MANIFEST) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.manifest = manifest  # a deploy target's is hidden (deploy/: a web root's own)
        self._base = str(root)
        self._target = _Paths(root).target
        self._made: set[str] = set()
        # the last manifest as a check started ahead read it, with the listed files it found
        # changed; else read here, and each file is looked at when asked (``_changed`` None)
        ahead = _checked_ahead(root, manifest)
        self._changed: frozenset[str] | None = None
        if ahead is not None:
            self._before, self._media, self._manifest_ctime, self._changed = ahead
        else:
            self._before, self._media, self._manifest_ctime = _previous(root, manifest)
        for old in os.listdir(root):  # what a build that was killed left behind
            if old.startswith(STAGE_PREFIX):
                shutil.rmtree(root / old, ignore_errors=True)
        self._stage = os.path.join(self._base, STAGE_PREFIX + secrets.token_hex(6))
        os.mkdir(self._stage)
        self._count = 0

    def put(self, art: Artifact) -> Written:
        if art.path == self.manifest:
            raise RenderError(f"an artifact may not be named {self.manifest}")
        digest = hashlib.sha256(art.data).hexdigest()
        kept = self.reuse(art.path, art.media_type, digest, len(art.data))
        if kept is not None:  # the manifest vouches for the file: not read again
            return kept
        target = self._target(art.path)
        if _equal(target, art.data):
            return Written(art.path, art.media_type, digest, len(art.data), False)
        self._count += 1  # forked writers share the folder: the pid keeps names apart
        staged = f"{os.getpid()}-{self._count}"
        _write_new(os.path.join(self._stage, staged), art.data)
        return Written(art.path, art.media_type, digest, len(art.data), True, staged)

    def reuse(self, path: str, media_type: str, sha256: str, size: int) -> Written | None:
        """The file an earlier build wrote, kept without its bytes: only when it is in place
        as the last manifest lists it and untouched since (else None: render it again)."""
        kept = self.reuse_all(((path, media_type, sha256, size),))
        return kept[0] if kept else None

    def reuse_all(self, facts: Iterable[tuple[str, str, str, int]]) -> list[Written] | None:
        """``reuse`` of each of (path, media type, sha256, size): every file, or None. (One
        call per event of a warm build: 60k files at 10k pages.) A file is kept when the last
        manifest lists it so and it has not been changed, replaced or touched since that
        manifest was written: its ctime, which no one can set back, is older. Reading it to
        compare is then not needed (else ``put`` compares the bytes)."""
        kept: list[Written] = []
        before, target, limit = self._before.get, self._target, self._manifest_ctime
        manifest, changed = self.manifest, self._changed
        for path, media_type, sha256, size in facts:
            if path == manifest or before(path) != (sha256, size):
                return None
            if changed is not None:  # ``check_ahead`` looked at every listed file already
                if path in changed:
                    return None
            elif not _untouched(target(path), limit):
                return None
            kept.append(Written(path, media_type, sha256, size, False))
        return kept

    def abort(self) -> None:
        """The build failed: drop what was staged; dist/ stays as the last build left it."""
        shutil.rmtree(self._stage, ignore_errors=True)

    def finish(self, files: Iterable[Written]) -> WriteReport:
        """Every file is staged: move them into place, remove stale ones, write the manifest."""
        try:
            return self._commit(files)
        finally:
            self.abort()

    def _commit(self, files: Iterable[Written]) -> WriteReport:
        report = WriteReport()
        entries: dict[str, Written] = {}
        for f in files:
            if f.path in entries or f.path == self.manifest:
                raise RenderError(f"two artifacts would be written to {f.path}")
            entries[f.path] = f
            (report.written if f.changed else report.unchanged).append(f.path)
        for f in entries.values():
            if f.staged is not None:
                target = self._target(f.path)
                parent = os.path.dirname(target)
                if parent not in self._made:
                    os.makedirs(parent, exist_ok=True)
                    self._made.add(parent)
                os.replace(os.path.join(self._stage, f.staged), target)
        for old in sorted(self._before.keys() - entries.keys()):
            try:
                safe_join(self.root, old).unlink()
                report.removed.append(old)
            except (FileNotFoundError, RenderError):
                pass
        if report.written or report.removed or not self._same_listing(entries):
            # written anew even when its text is the same: its ctime vouches for the files
            # just put in place (``reuse_all``), so the next build need not read them
            listing = manifest_json([entries[k] for k in sorted(entries)])
            write_file(self.root / self.manifest, listing, force=True)
        return report

    def _same_listing(self, entries: dict[str, Written]) -> bool:
        """Would the manifest list what it lists now? (Then it is left as it is, and so is
        its ctime, which ``reuse_all`` compares files with.)"""
        return len(entries) == len(self._before) and all(
            self._before.get(path) == (f.sha256, f.size) and self._media.get(path) == f.media_type
            for path, f in entries.items()
        )


def _untouched(target: str, limit: int) -> bool:
    """Is ``target`` a regular file not changed, replaced or touched since ``limit`` (the
    manifest's ctime, ns, which no one can set back)? What a manifest vouches for."""
    try:
        st = os.lstat(target)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_ctime_ns < limit


# A warm build checks every file the last manifest lists (60k lstat calls at 10k pages:
# 0.3 s). ``check_ahead`` starts that check in a forked process before the pages are
# loaded, so it runs beside the loading on another CPU; OutputDir takes its answer.
AHEAD_MIN_BYTES = 1 << 20  # a manifest this big (about 5k files), else it does not pay
_AHEAD: dict[str, tuple[int, int]] = {}  # realpath of the folder → (child pid, pipe)


def check_ahead(root: Path, manifest: str = MANIFEST) -> bool:
    """Start checking the files ``root``'s manifest lists (whether each is in place as it
    left them) in a forked process, for the OutputDir a build makes of ``root`` next.
    Only from a process with no other threads (the `build` command before it loads), with
    two CPUs or more, for a big manifest; whether it started."""
    from .timeutil import usable_cpus

    if not hasattr(os, "fork") or usable_cpus() < 2:
        return False
    try:
        if os.stat(root / manifest).st_size < AHEAD_MIN_BYTES:
            return False
    except OSError:
        return False
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, and leave without any of the parent's clean-up
        try:
            os.close(read)
            answer = marshal.dumps(_looked_at(root, manifest))
            with os.fdopen(write, "wb") as fh:
                fh.write(answer)
        finally:
            os._exit(0)
    os.close(write)
    _AHEAD[os.path.realpath(root)] = (pid, read)
    return True


# What the check ahead answers: the manifest's ctime, its paths, media types, SHA-256s and
# sizes (in lists: the parent makes its dicts from them quicker than it parses the JSON),
# and the listed files that are not as it left them.
_Answer = tuple[int, list[str], list[str], list[str], list[int], list[str]]


def _looked_at(root: Path, manifest: str) -> _Answer:
    """The manifest, and the files it lists that are not as it left them: missing, not a
    regular file, changed or touched since, or at a path a build would not write."""
    files, media, limit = _previous(root, manifest)
    paths = _Paths(root)
    changed: list[str] = []
    for path in files:
        try:
            untouched = _untouched(paths.target(path), limit)
        except (OSError, RenderError):  # a path the build would refuse to write
            untouched = False
        if not untouched:
            changed.append(path)
    listed = list(files)
    return (
        limit,
        listed,
        [media[p] for p in listed],
        [files[p][0] for p in listed],
        [files[p][1] for p in listed],
        changed,
    )


def _checked_ahead(
    root: Path, manifest: str
) -> tuple[dict[str, tuple[str, int]], dict[str, str], int, frozenset[str]] | None:
    """The answer of ``check_ahead`` for ``root`` (the last manifest's files, media types
    and ctime, and the files found changed), when one was started and the manifest is
    still the one it read (its ctime); else None."""
    ahead = _AHEAD.pop(os.path.realpath(root), None)
    if ahead is None:
        return None
    pid, read = ahead
    try:
        with os.fdopen(read, "rb") as fh:
            data = fh.read()
        os.waitpid(pid, 0)
        answer: _Answer = marshal.loads(data)  # plain lists (loading runs nothing)
        limit, paths, media, sha256, size, changed = answer
        if os.stat(root / manifest).st_ctime_ns != limit:
            return None  # the manifest was replaced meanwhile
        files = dict(zip(paths, zip(sha256, size, strict=True), strict=True))
        return files, dict(zip(paths, media, strict=True)), limit, frozenset(changed)
    except (OSError, ValueError, TypeError, EOFError):
        return None  # no answer (the child failed): all of it here


def write_all(
    root: Path, artifacts: Iterable[Artifact], *, manifest: str = MANIFEST
) -> WriteReport:
    out = OutputDir(root, manifest)
    return out.finish([out.put(a) for a in artifacts])


def manifest_json(files: list[Written]) -> bytes:
    """The manifest as ``json.dumps(…, ensure_ascii=False, indent=2)`` writes it, a line per
    value built with the C encoder (the indenting encoder is pure Python: 0.3 s at 50k files)."""
    if not files:
        return b'{\n  "generator": "livepipe",\n  "artifacts": []\n}\n'
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    items = ",\n".join(
        f'    {{\n      "path": {dumps(f.path)},\n      "media_type": {dumps(f.media_type)},\n'
        f'      "sha256": "{f.sha256}",\n      "bytes": {f.size}\n    }}'
        for f in files
    )
    text = f'{{\n  "generator": "livepipe",\n  "artifacts": [\n{items}\n  ]\n}}\n'
    return text.encode("utf-8")


def _previous(
    root: Path, manifest: str = MANIFEST
) -> tuple[dict[str, tuple[str, int]], dict[str, str], int]:
    """The last manifest's files (path → (sha256, size)), their media types, and the
    manifest's ctime (ns)."""
    try:
        with open(root / manifest, "rb") as fh:
            ctime = os.fstat(fh.fileno()).st_ctime_ns
            data = json.loads(fh.read().decode("utf-8"))
        files = {str(a["path"]): (str(a["sha256"]), int(a["bytes"])) for a in data["artifacts"]}
        media = {str(a["path"]): str(a["media_type"]) for a in data["artifacts"]}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}, {}, 0
    return files, media, ctime
