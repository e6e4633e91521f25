"""Deploy targets against real ones: a folder, a local bare git repository, and an
S3-compatible server (moto in server mode) on loopback; then the read-back that compares what
readers get (served on loopback) with the build, event by event."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from livepipe.build import build
from livepipe.config import load_settings
from livepipe.deploy import DeployError, deploy
from livepipe.deploy.s3 import sign
from livepipe.deploy.verify import verify
from livepipe.site import Site, load

from .support import make_site, page
from .support.receiver import free_port, serve_app

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


JAN_5 = datetime(2027, 1, 5, 11, tzinfo=UTC)


def built_site(root: Path, deploy: dict, *, start: datetime = JAN_5) -> Path:
    """A two-event site with ``[deploy]`` targets, built into root/dist."""
    make_site(
        root,
        pages={
            "meetup.md": page("Winter Meetup", start),
            "talk.md": page("Lightning Talk", utc(2027, 2, 2, 18)),
        },
        deploy=deploy,
    )
    rebuild(root)
    return root


def rebuild(root: Path) -> None:
    build(load(Site.locate(root), cache=False), root / "dist", now=NOW)


def reschedule(root: Path, start: datetime) -> None:
    (root / "content" / "meetup.md").write_text(page("Winter Meetup", start))
    rebuild(root)


def settings(root: Path):  # type: ignore[no-untyped-def]
    return load_settings(root / "livepipe.toml")


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(folder).parts
    }


# -- a folder -------------------------------------------------------------------------------


def test_a_folder_gets_the_build_then_only_what_changed(tmp_path: Path) -> None:
    web = tmp_path / "static"
    web.mkdir()
    (web / "manifest.json").write_text('{"name": "the site\'s own PWA manifest"}')
    (web / "logo.png").write_bytes(b"\x89PNG")
    site = built_site(tmp_path / "site", {"web": {"type": "directory", "path": str(web)}})
    (report,) = deploy(settings(site), site / "dist")
    dist = files(site / "dist")
    assert "calendar.ics" in report.written and not report.removed
    for path, data in dist.items():
        if path != "manifest.json":
            assert (web / path).read_bytes() == data
    # the web root's own files are never touched (its manifest.json included)
    assert (web / "manifest.json").read_text() == '{"name": "the site\'s own PWA manifest"}'
    assert (web / "logo.png").read_bytes() == b"\x89PNG"
    (again,) = deploy(settings(site), site / "dist")
    assert again.written == [] and again.removed == [] and again.unchanged == len(dist) - 1
    reschedule(site, utc(2027, 1, 12, 11))
    (moved,) = deploy(settings(site), site / "dist")
    assert "calendar.ics" in moved.written and "events/meetup.ics" in moved.written
    assert "events/talk.ics" not in moved.written
    assert b"20270112T110000Z" in (web / "events" / "meetup.ics").read_bytes()


def test_a_folder_deploy_cut_short_is_finished_by_the_next(tmp_path: Path, monkeypatch) -> None:
    web = tmp_path / "www"
    site = built_site(tmp_path / "site", {"web": {"type": "directory", "path": str(web)}})
    deploy(settings(site), site / "dist")
    before = files(web)
    reschedule(site, utc(2027, 1, 19, 11))
    real = os.replace
    moved: list[str] = []

    def crash(src: str, dst: str) -> None:
        if len(moved) == 1:
            raise OSError(28, "No space left on device")
        moved.append(dst)
        real(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(DeployError, match="No space left"):
        deploy(settings(site), site / "dist")
    monkeypatch.setattr(os, "replace", real)
    # what readers saw in between: each file whole, old or new; the manifest still the old
    now = files(web)
    assert now[".livepipe-manifest.json"] == before[".livepipe-manifest.json"]
    (report,) = deploy(settings(site), site / "dist")
    assert report.written  # the rest of the cut deploy
    assert {p: d for p, d in files(web).items() if p != ".livepipe-manifest.json"} == {
        p: d for p, d in files(site / "dist").items() if p != "manifest.json"
    }
    assert not any(p.startswith(".livepipe-stage-") for p in os.listdir(web))


# -- a git branch ---------------------------------------------------------------------------


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
        env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
             "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"},
    ).stdout  # fmt: skip


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    repo = tmp_path / "pages.git"
    git("init", "-q", "--bare", str(repo), cwd=tmp_path)
    return repo


def commits(repo: Path, branch: str = "gh-pages") -> list[str]:
    return git("log", "--format=%s", branch, cwd=repo).splitlines()


def test_a_git_branch_gets_a_commit_only_when_something_changed(tmp_path: Path, bare: Path) -> None:
    site = built_site(
        tmp_path / "site",
        {"pages": {"type": "git", "url": str(bare), "branch": "gh-pages", "prefix": "live"}},
    )
    (first,) = deploy(settings(site), site / "dist")
    assert first.note == "pushed to gh-pages" and len(commits(bare)) == 1
    listed = git("ls-tree", "-r", "--name-only", "gh-pages", cwd=bare).split()
    assert "live/calendar.ics" in listed and "live/.livepipe-manifest.json" in listed
    shown = subprocess.run(
        ["git", "show", "gh-pages:live/calendar.ics"], cwd=bare, check=True, capture_output=True
    ).stdout
    assert shown == (site / "dist" / "calendar.ics").read_bytes()
    (same,) = deploy(settings(site), site / "dist")
    assert same.written == [] and len(commits(bare)) == 1  # nothing changed: no commit
    reschedule(site, utc(2027, 1, 12, 11))
    (moved,) = deploy(settings(site), site / "dist")
    assert len(commits(bare)) == 2 and "events/meetup.ics" in moved.written


def test_a_branch_that_moved_is_pushed_on_top_and_a_refusal_is_clear(
    tmp_path: Path, bare: Path
) -> None:
    site = built_site(tmp_path / "site", {"pages": {"type": "git", "url": str(bare)}})
    deploy(settings(site), site / "dist")
    other = tmp_path / "other"
    git("clone", "-q", "--branch", "gh-pages", str(bare), str(other), cwd=tmp_path)
    (other / "CNAME").write_text("live.example.org\n")
    git("add", "CNAME", cwd=other)
    git("commit", "-q", "-m", "someone else's commit", cwd=other)
    git("push", "-q", "origin", "gh-pages", cwd=other)
    reschedule(site, utc(2027, 1, 12, 11))
    deploy(settings(site), site / "dist")
    assert commits(bare)[1] == "someone else's commit"  # kept: ours went on top of it
    assert "CNAME" in git("ls-tree", "--name-only", "gh-pages", cwd=bare).split()
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch: pushes need a review' >&2\nexit 1\n")
    hook.chmod(0o755)
    reschedule(site, utc(2027, 1, 19, 11))
    with pytest.raises(DeployError, match=r"refused: .*protected branch"):
        deploy(settings(site), site / "dist")


def test_a_git_token_never_shows(tmp_path: Path, bare: Path, monkeypatch) -> None:
    monkeypatch.setenv("PAGES_TOKEN", "ghp_secret_value_123")
    site = built_site(
        tmp_path / "site",
        {
            "pages": {
                "type": "git",
                "url": str(tmp_path / "nowhere.git"),
                "token_env": "PAGES_TOKEN",
            }
        },
    )
    with pytest.raises(DeployError) as info:
        deploy(settings(site), site / "dist")
    assert "ghp_secret_value_123" not in str(info.value) and "cannot fetch" in str(info.value)


# -- an S3-compatible bucket ----------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server: str, monkeypatch) -> Iterator[tuple[str, object]]:
    import boto3

    monkeypatch.setenv("DEPLOY_KEY", "AKIDEXAMPLE")
    monkeypatch.setenv("DEPLOY_SECRET", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x",
    )  # fmt: skip
    name = f"site-{free_port()}"
    s3.create_bucket(Bucket=name)
    yield name, s3


def s3_target(url: str, name: str) -> dict:
    return {
        "type": "s3", "endpoint": url, "bucket": name, "prefix": "cal",
        "access_key_env": "DEPLOY_KEY", "secret_key_env": "DEPLOY_SECRET",
    }  # fmt: skip


def test_an_s3_bucket_gets_types_caching_and_only_changed_objects(
    tmp_path: Path, s3_server: str, bucket
) -> None:
    name, s3 = bucket
    site = built_site(tmp_path / "site", {"bucket": s3_target(s3_server, name)})
    deploy(settings(site), site / "dist")
    head = s3.head_object(Bucket=name, Key="cal/calendar.ics")
    assert head["ContentType"] == "text/calendar; charset=utf-8"
    assert head["CacheControl"] == "public, max-age=3600"  # [calendar] refresh_interval
    body = s3.get_object(Bucket=name, Key="cal/events/meetup.ics")["Body"].read()
    assert body == (site / "dist" / "events" / "meetup.ics").read_bytes()
    stamp = s3.head_object(Bucket=name, Key="cal/events/talk.ics")["ETag"]
    (same,) = deploy(settings(site), site / "dist")
    assert same.written == [] and same.removed == []
    (site / "content" / "talk.md").unlink()
    rebuild(site)
    (gone,) = deploy(settings(site), site / "dist")
    assert "events/talk.ics" in gone.removed and "calendar.ics" in gone.written
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]}
    assert "cal/events/talk.ics" not in keys and "cal/events/meetup.ics" in keys
    assert stamp  # (its ETag was read while it existed)


def test_an_s3_deploy_cut_short_is_finished_and_never_half_published(
    tmp_path: Path, s3_server: str, bucket, monkeypatch
) -> None:
    from livepipe.deploy import s3 as s3_module

    name, s3 = bucket
    site = built_site(tmp_path / "site", {"bucket": s3_target(s3_server, name)})
    deploy(settings(site), site / "dist")
    old_manifest = s3.get_object(Bucket=name, Key="cal/.livepipe-manifest.json")["Body"].read()
    reschedule(site, utc(2027, 1, 12, 11))
    real = s3_module.Bucket.request
    puts: list[str] = []

    def flaky(self, method, path, body=b"", headers=None):  # type: ignore[no-untyped-def]
        if method == "PUT":
            puts.append(path)
            if len(puts) == 2:
                from livepipe.errors import NetworkError

                raise DeployError(f"deploy bucket: PUT {path}: {NetworkError('reset')}")
        return real(self, method, path, body, headers)

    monkeypatch.setattr(s3_module.Bucket, "request", flaky)
    with pytest.raises(DeployError):
        deploy(settings(site), site / "dist")
    # the manifest (what the bucket says it holds) is still the old one
    assert s3.get_object(Bucket=name, Key="cal/.livepipe-manifest.json")["Body"].read() == (
        old_manifest
    )
    monkeypatch.setattr(s3_module.Bucket, "request", real)
    (report,) = deploy(settings(site), site / "dist")
    assert report.written
    body = s3.get_object(Bucket=name, Key="cal/events/meetup.ics")["Body"].read()
    assert body == (site / "dist" / "events" / "meetup.ics").read_bytes()


def test_s3_keys_come_from_the_environment_only(tmp_path: Path, s3_server: str) -> None:
    site = built_site(tmp_path / "site", {"bucket": s3_target(s3_server, "x")})
    with pytest.raises(DeployError, match="DEPLOY_KEY and DEPLOY_SECRET in the environment"):
        deploy(settings(site), site / "dist")


def test_signature_v4_matches_the_aws_example() -> None:
    """AWS's documented example (GET /test.txt from examplebucket, 24 May 2013)."""
    headers = sign(
        "GET", "examplebucket.s3.amazonaws.com", "/test.txt", "", {"Range": "bytes=0-9"},
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region="us-east-1", now=utc(2013, 5, 24),
    )  # fmt: skip
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


# -- reading back what readers get ----------------------------------------------------------


@pytest.fixture
def served_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    from starlette.applications import Starlette
    from starlette.staticfiles import StaticFiles

    web = tmp_path / "www"
    web.mkdir()
    app = Starlette()
    app.mount("/", StaticFiles(directory=str(web)))
    with serve_app(app) as url:
        yield web, url


def test_verify_names_each_event_that_differs(tmp_path: Path, served_folder) -> None:
    web, url = served_folder
    target = {"type": "directory", "path": str(web), "public_url": url + "/"}
    site = built_site(tmp_path / "site", {"web": target}, start=utc(2027, 1, 5, 11))
    (site / "livepipe.toml").write_text(
        (site / "livepipe.toml").read_text() + '\n[network]\nallow = ["127.0.0.0/8"]\n'
    )
    deploy(settings(site), site / "dist")
    (clean,) = verify(settings(site), site / "dist")
    assert clean.found == []
    # an event's time edited on the server, another removed
    calendar = (web / "calendar.ics").read_bytes()
    assert b"DTSTART:20270105T110000Z" in calendar
    tampered = calendar.replace(b"DTSTART:20270105T110000Z", b"DTSTART:20270105T120000Z")
    (web / "calendar.ics").write_bytes(_drop(tampered, b"SUMMARY:Lightning Talk"))
    (drift,) = verify(settings(site), site / "dist")
    found = "\n".join(drift.found)
    assert "calendar.ics: event 'Winter Meetup' (meetup@" in found
    assert "DTSTART is 2027-01-05 12:00 UTC, built 2027-01-05 11:00 UTC" in found
    assert "event 'Lightning Talk' (talk@" in found and "is missing" in found


def _drop(ics: bytes, marker: bytes) -> bytes:
    """The calendar without the VEVENT holding ``marker``."""
    head, *events = ics.split(b"BEGIN:VEVENT")
    kept = [e for e in events if marker not in e]
    assert len(kept) == len(events) - 1
    tail = events[-1].split(b"END:VEVENT\r\n", 1)[1] if marker in events[-1] else b""
    return head + b"".join(b"BEGIN:VEVENT" + e for e in kept) + tail


def test_an_old_copy_served_is_drift_and_an_alert_and_a_metric(
    tmp_path: Path, served_folder
) -> None:
    from livepipe.ledger import open_ledger
    from livepipe.pipeline import publish_build
    from livepipe.records import SendState

    web, url = served_folder  # a CDN in front of the origin folder
    origin = tmp_path / "origin"
    target = {"type": "directory", "path": str(origin), "public_url": url + "/",
              "after_sync": False}  # fmt: skip
    site = built_site(tmp_path / "site", {"web": target})
    text = (site / "livepipe.toml").read_text()
    (site / "livepipe.toml").write_text(
        text + '\n[network]\nallow = ["127.0.0.0/8"]\n[alerts]\nchannel = "outbox"\n'
    )
    deploy(settings(site), site / "dist")
    shutil.copytree(origin, web, dirs_exist_ok=True)  # the CDN caught up with the origin
    reschedule(site, utc(2027, 1, 12, 11))  # … and keeps the old copy after this one
    ledger = open_ledger(settings(site), str(tmp_path / "ledger.sqlite"))
    try:
        _, drifts, failures = publish_build(settings(site), site / "dist", ledger, NOW)
        assert failures == []
        (drift,) = drifts
        assert any("'Winter Meetup'" in f and "DTSTART is 2027-01-05 11:00 UTC" in f
                   for f in drift.found), drift.found  # fmt: skip
        alerts = [s for s in ledger.sends(SendState.PENDING) if s.slot == "alert"]
        assert len(alerts) == 1 and "Winter Meetup" in (alerts[0].text or "")
        assert ledger.kv_prefix("drift:") == {"drift:web": str(len(drift.found))}
        from livepipe.metrics import Metrics

        scraped = Metrics(lambda: ledger).exposition().decode()
        assert 'livepipe_deploy_drift{target="web"}' in scraped
    finally:
        ledger.close()


def test_deploy_and_verify_from_the_command_line(tmp_path: Path, served_folder) -> None:
    from typer.testing import CliRunner

    from livepipe.cli import app

    web, url = served_folder
    target = {"type": "directory", "path": str(web), "public_url": url + "/"}
    site = built_site(tmp_path / "site", {"web": target})
    (site / "livepipe.toml").write_text(
        (site / "livepipe.toml").read_text() + '\n[network]\nallow = ["127.0.0.0/8"]\n'
    )
    runner = CliRunner()
    out = runner.invoke(app, ["deploy", str(site), "--out", str(site / "dist")])
    assert out.exit_code == 0, out.output
    assert "deploy web:" in out.output and "matches the build" in out.output
    (web / "feed.json").write_text(json.dumps({"items": []}))
    out = runner.invoke(app, ["verify", str(site), "--out", str(site / "dist")])
    assert (
        out.exit_code == 1 and "item 'Winter Meetup'" in out.output and "is missing" in out.output
    )
    out = runner.invoke(app, ["deploy", str(site), "-t", "nope"])
    assert out.exit_code == 2 and "unknown target 'nope'" in out.output


def test_each_sync_deploys_its_build(tmp_path: Path) -> None:
    from livepipe.ledger import open_ledger
    from livepipe.pipeline import sync

    web = tmp_path / "www"
    site = built_site(tmp_path / "site", {"web": {"type": "directory", "path": str(web)}})
    ledger = open_ledger(settings(site), str(tmp_path / "ledger.sqlite"))
    try:
        sync(Site.locate(site), ledger, NOW, out=site / "dist")
        assert (web / "calendar.ics").read_bytes() == (site / "dist" / "calendar.ics").read_bytes()
        reschedule(site, utc(2027, 1, 12, 11))
        sync(Site.locate(site), ledger, NOW, out=site / "dist")
        assert b"20270112T110000Z" in (web / "events" / "meetup.ics").read_bytes()
    finally:
        ledger.close()
