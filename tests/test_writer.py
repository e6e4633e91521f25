"""dist/ writes: atomic, never outside the folder, only when bytes change, stale files removed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from livepipe.errors import RenderError
from livepipe.render import Artifact
from livepipe.writer import OutputDir, Written, manifest_json, safe_join, write_all


@pytest.mark.parametrize(
    "bad", ["../x.ics", "/etc/passwd", "a/../../b", "events/../../x", "", "a\\..\\b", "."]
)
def test_paths_outside_the_folder_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(RenderError):
        safe_join(tmp_path, bad)


def test_symlink_escape_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path)
    with pytest.raises(RenderError):
        safe_join(tmp_path / "out", "link/x.ics")


def art(path: str, data: bytes) -> Artifact:
    return Artifact(path, "text/plain", data)


def test_only_changed_files_are_rewritten_and_stale_ones_removed(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    (out).mkdir()
    (out / "keep-me.txt").write_text("not ours")
    first = write_all(out, [art("a.txt", b"A"), art("sub/b.txt", b"B"), art("c.txt", b"C")])
    assert sorted(first.written) == ["a.txt", "c.txt", "sub/b.txt"]
    inode = (out / "a.txt").stat().st_ino
    second = write_all(out, [art("a.txt", b"A"), art("sub/b.txt", b"B2")])
    assert second.written == ["sub/b.txt"] and second.unchanged == ["a.txt"]
    assert second.removed == ["c.txt"] and not (out / "c.txt").exists()
    assert (out / "a.txt").stat().st_ino == inode  # untouched, not rewritten
    assert (out / "keep-me.txt").read_text() == "not ours"
    manifest = json.loads((out / "manifest.json").read_text())
    assert [a["path"] for a in manifest["artifacts"]] == ["a.txt", "sub/b.txt"]
    assert manifest["artifacts"][0]["sha256"] == (
        "559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd"  # sha256(b"A")
    )
    assert not list(out.rglob("*.tmp"))


def test_two_artifacts_on_one_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="two artifacts"):
        write_all(tmp_path, [art("a.txt", b"1"), art("a.txt", b"2")])


@pytest.mark.parametrize("paths", [[], ["a.txt"], ['events/ä "q".ics', "tags/x\\y.ics", "b"]])
def test_manifest_text_is_what_json_dumps_writes(paths: list[str]) -> None:
    files = [
        Written(p, "text/calendar; charset=utf-8", "ab" * 32, 7 * i, False)
        for i, p in enumerate(paths)
    ]
    manifest = {
        "generator": "livepipe",
        "artifacts": [
            {"path": f.path, "media_type": f.media_type, "sha256": f.sha256, "bytes": f.size}
            for f in files
        ],
    }
    expected = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    assert manifest_json(files).decode("utf-8") == expected


def test_files_in_a_checked_folder_are_still_kept_inside(tmp_path: Path) -> None:
    out = OutputDir(tmp_path / "dist")
    good = out.put(art("events/a.ics", b"A"))  # the folder is checked once here
    for bad in ["events/../../x", "events/./../y", "events//z/../../w", "/events/x"]:
        with pytest.raises(RenderError):
            out.put(art(bad, b"X"))
    with pytest.raises(RenderError, match=r"manifest\.json"):
        out.put(art("manifest.json", b"{}"))
    out.finish([good])
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["dist/events/a.ics", "dist/manifest.json"]


def test_files_the_manifest_vouches_for_are_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import livepipe.writer as writer_module

    out = tmp_path / "dist"
    files = [art("a.txt", b"A" * 10), art("sub/b.txt", b"B" * 10)]
    write_all(out, files)
    compared: list[str] = []
    real = writer_module._equal

    def counting(path, data):  # type: ignore[no-untyped-def]
        compared.append(Path(path).name)
        return real(path, data)

    monkeypatch.setattr(writer_module, "_equal", counting)
    again = write_all(out, files)
    assert compared == [] and again.written == []  # nor the manifest: it lists the same

    # Changed behind our back, same size and mtime: its ctime is newer than the manifest's.
    b = out / "sub" / "b.txt"
    st = b.stat()
    b.write_bytes(b"X" * 10)
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
    compared.clear()
    third = write_all(out, files)
    assert third.written == ["sub/b.txt"] and b.read_bytes() == b"B" * 10
    assert compared == ["b.txt"]
    compared.clear()
    write_all(out, files)  # the manifest written after the repair vouches for it
    assert compared == []

    # A file replaced by a symlink is not vouched for: one inside dist/ is replaced by the
    # file, one leading outside is refused (safe_join), never written through.
    a = out / "a.txt"
    (out / "copy.txt").write_bytes(b"A" * 10)
    a.unlink()
    a.symlink_to(out / "copy.txt")
    fourth = write_all(out, files)
    assert fourth.written == ["a.txt"] and not a.is_symlink()
    (tmp_path / "elsewhere").write_bytes(b"A" * 10)
    a.unlink()
    a.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RenderError, match="outside"):
        write_all(out, files)
    assert (tmp_path / "elsewhere").read_bytes() == b"A" * 10


@pytest.fixture
def ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """check_ahead on for any manifest, as on a machine with two CPUs."""
    import livepipe.timeutil
    import livepipe.writer as writer_module

    monkeypatch.setattr(writer_module, "AHEAD_MIN_BYTES", 0)
    monkeypatch.setattr(livepipe.timeutil, "usable_cpus", lambda: 2)


def _tampered(tmp_path: Path) -> tuple[Path, list[tuple[str, str, str, int]]]:
    """A folder a build wrote, then changed behind its back in every way a file can be;
    the facts the manifest lists."""
    out = tmp_path / "dist"
    names = [f"{d}/{n}.txt" for d in ("events", "wechat", "deep/er") for n in "abcdefg"]
    write_all(out, [art(n, n.encode() * 3) for n in names])
    # a path planted in the manifest that leads outside (written first: a file changed
    # before the manifest was is vouched for by it)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["artifacts"].append(dict(manifest["artifacts"][-1], path="../planted.txt"))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (out / "events" / "a.txt").unlink()  # deleted
    edited = out / "events" / "b.txt"  # same size, same mtime: only its ctime tells
    st = edited.stat()
    edited.write_bytes(edited.read_bytes().upper())
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))
    (out / "events" / "c.txt").unlink()
    (out / "events" / "c.txt").symlink_to(out / "events" / "d.txt")  # a symlink inside
    (tmp_path / "outside").mkdir()
    shutil.move(out / "deep" / "er", tmp_path / "outside" / "er")
    (out / "deep" / "er").symlink_to(tmp_path / "outside" / "er")  # a folder leading out
    (out / "wechat" / "e.txt").unlink()
    (out / "wechat" / "e.txt").mkdir()  # a folder where a file was
    facts = [(a["path"], a["media_type"], a["sha256"], a["bytes"]) for a in manifest["artifacts"]]
    return out, facts


def test_the_check_ahead_finds_what_the_check_of_each_file_finds(
    tmp_path: Path, ahead: None
) -> None:
    """`build` checks the files the last manifest lists in a forked process while the pages
    load: for every file, the same answer as looking at it in the build, tampered or not."""
    from livepipe.writer import check_ahead

    out, facts = _tampered(tmp_path)
    here = OutputDir(out)
    assert here._changed is None  # no check ahead: each file looked at when asked
    expected = {}
    for fact in facts:
        try:
            expected[fact[0]] = here.reuse_all([fact]) is not None
        except RenderError:  # the build refuses to write there: not kept either
            expected[fact[0]] = False
    here.abort()
    assert check_ahead(out)
    there = OutputDir(out)
    assert there._changed is not None  # the answer came, for this manifest
    # and with it the manifest as it lists the files (not read again here)
    assert (there._before, there._media, there._manifest_ctime) == (
        here._before, here._media, here._manifest_ctime
    )  # fmt: skip
    found = {fact[0]: there.reuse_all([fact]) is not None for fact in facts}
    there.abort()
    assert found == expected
    kept = {path for path, ok in found.items() if ok}
    assert kept == {f"{d}/{n}.txt" for d in ("events", "wechat") for n in "abcdefg"} - {
        "events/a.txt", "events/b.txt", "events/c.txt", "wechat/e.txt"
    }  # fmt: skip


def test_a_check_ahead_of_another_manifest_is_not_taken(tmp_path: Path, ahead: None) -> None:
    import livepipe.writer as writer_module
    from livepipe.writer import check_ahead

    out = tmp_path / "dist"
    files = [art("a.txt", b"A"), art("b.txt", b"B")]
    write_all(out, files)
    assert check_ahead(out)
    pid, _ = writer_module._AHEAD[os.path.realpath(out)]
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # it has answered (left to reap)
    manifest = out / "manifest.json"
    manifest.write_bytes(manifest.read_bytes())  # replaced meanwhile (another build)
    dist = OutputDir(out)
    assert dist._changed is None  # each file is looked at again
    dist.abort()
    # nothing to check ahead: no manifest, or a small one on a machine of one CPU
    assert not check_ahead(tmp_path / "nothing-here")
