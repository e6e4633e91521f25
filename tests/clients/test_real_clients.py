"""What livepipe makes, read by the programs viewers use (issue 15): a vdirsyncer subscription
to `livepipe serve` and khal on top of it, calcurse, libical's parser and iTIP restriction
check, rss-parser and @extractus/feed-extractor, and the Nu Html Checker. Each runs on the
bundled site and on the real corpus (skipped without ../shared)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import icalendar
import pytest

from ..support import CORPUS
from ..support.serving import copy_site
from .conftest import HERE, KS_TOML, SYSTEM_PYTHON, Built, client, livepipe_serve

pytestmark = pytest.mark.clients


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]


def entries(ics: bytes) -> list[tuple[str, str]]:
    """(SUMMARY, DTSTART) of each VEVENT. Not the UID: vdirsyncer's http storage stores
    each item under the hash of its content (``ignore_uids``, its default)."""
    cal = icalendar.Calendar.from_ical(ics)
    return [(str(e["SUMMARY"]), e["DTSTART"].to_ical().decode()) for e in cal.walk("VEVENT")]


# --- calendars ----------------------------------------------------------------------------


def test_libical_parses_every_file_and_passes_the_itip_check(
    debian_clients: dict[str, str], site_built: Built
) -> None:
    client(debian_clients, "libical")
    files = site_built.files("**/*.ics")
    assert len(files) > site_built.events  # per-event files, calendars, tags
    out = run([SYSTEM_PYTHON, str(HERE / "libical_check.py"), *map(str, files)])
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    bad = {Path(p).name: r for p, r in report.items() if r["errors"] or r.get("parse_errors")}
    assert not bad, dict(list(bad.items())[:3])
    assert report[str(site_built.dist / "calendar.ics")]["events"] == site_built.events


def test_libical_itip_check_accepts_the_email_invitations(
    debian_clients: dict[str, str], tmp_path: Path
) -> None:
    """The invitations the email channel attaches are iTIP messages: libical checks each
    METHOD's restrictions (RFC 5546: what a REQUEST and a CANCEL must and must not have)."""
    from datetime import UTC, datetime

    from livepipe.render.ics import invitation
    from livepipe.site import load_path

    from ..support import CONTENT

    client(debian_clients, "libical")
    files = []
    for i, e in enumerate(load_path(CONTENT).events):
        for method in ("REQUEST", "CANCEL"):
            path = tmp_path / f"{i}-{e.slug}.{method}.ics"
            path.write_bytes(
                invitation(
                    e,
                    method=method,
                    sequence=3,
                    organizer=("Live, the community", "live@example.org"),
                    attendee="list@example.org",
                    now=datetime(2026, 12, 1, tzinfo=UTC),
                    description="Join us; bring questions.\nLine two.",
                    site_host_name="live.example.org",
                )
            )
            files.append(path)
    out = run([SYSTEM_PYTHON, str(HERE / "libical_check.py"), *map(str, files)])
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    bad = {Path(p).name: r for p, r in report.items() if r["errors"] or r.get("parse_errors")}
    assert not bad, dict(list(bad.items())[:3])
    assert len(report) == len(files) >= 16


def test_calcurse_imports_every_file(
    debian_clients: dict[str, str], site_built: Built, tmp_path: Path
) -> None:
    client(debian_clients, "calcurse")
    files = [site_built.dist / "calendar.ics", *site_built.files("events/*.ics")]
    for path in files:
        home = tmp_path / path.stem
        home.mkdir()
        out = run(["calcurse", "-D", str(home), "-i", str(path)])
        assert out.returncode == 0, (path.name, out.stdout, out.stderr)
        found = re.search(r"(\d+) apps? / (\d+) events? / \d+ todos? / (\d+) skipped", out.stdout)
        assert found, (path.name, out.stdout)
        apps, events, skipped = map(int, found.groups())
        expected = path.read_bytes().count(b"BEGIN:VEVENT")
        assert (apps + events, skipped) == (expected, 0), (path.name, out.stdout)


def _vdirsyncer(url: str, work: Path) -> Path:
    """Subscribe with vdirsyncer (http storage → a filesystem vdir) and sync once."""
    local = work / "vdir"
    local.mkdir()
    (work / "status").mkdir()
    config = work / "vdirsyncer.conf"
    config.write_text(
        f'[general]\nstatus_path = "{work}/status/"\n\n'
        '[pair live]\na = "live_remote"\nb = "live_local"\ncollections = null\n\n'
        f'[storage live_remote]\ntype = "http"\nurl = "{url}/calendar.ics"\n\n'
        f'[storage live_local]\ntype = "filesystem"\npath = "{local}/"\nfileext = ".ics"\n'
    )
    for step in ("discover", "sync"):
        out = run(["vdirsyncer", "-c", str(config), step], input="")
        assert out.returncode == 0, (step, out.stdout, out.stderr)
    return local


def _serve_site(site: str, work: Path) -> tuple[Path, Path | None]:
    if site == "bundled":
        return copy_site(_mkdir(work / "site")), None
    if not CORPUS.is_dir():
        pytest.skip(f"real corpus not found at {CORPUS} (it exists in CI)")
    toml = work / "livepipe.toml"
    toml.write_text(KS_TOML, encoding="utf-8")
    return CORPUS, toml


@pytest.mark.parametrize("site", ["bundled", "corpus"])
def test_a_vdirsyncer_subscription_stores_every_event(
    debian_clients: dict[str, str], tmp_path: Path, site: str
) -> None:
    """It kept 1 event of 185 (1 of 7) while the calendar had its own UID line first."""
    client(debian_clients, "vdirsyncer")
    root, config = _serve_site(site, tmp_path)
    with livepipe_serve(root, tmp_path, config) as url:
        served = (tmp_path / "dist" / "calendar.ics").read_bytes()
        local = _vdirsyncer(url, tmp_path)
    items = sorted(local.glob("*.ics"))
    stored = sorted(entry for p in items for entry in entries(p.read_bytes()))
    assert len(items) == served.count(b"BEGIN:VEVENT") >= (185 if site == "corpus" else 7)
    assert stored == sorted(entries(served))  # each event once, none lost or merged


def test_khal_lists_the_subscribed_events_at_the_right_local_times(
    debian_clients: dict[str, str], tmp_path: Path
) -> None:
    client(debian_clients, "vdirsyncer")
    client(debian_clients, "khal")
    site = copy_site(_mkdir(tmp_path / "site"))
    with livepipe_serve(site, tmp_path) as url:
        local = _vdirsyncer(url, tmp_path)
    listed = {}
    for zone in ("Europe/Berlin", "Asia/Shanghai", "America/New_York"):
        config = tmp_path / f"khal-{zone.replace('/', '-')}.conf"
        config.write_text(
            f"[calendars]\n[[live]]\npath = {local}/\ntype = calendar\n\n"
            "[locale]\ntimeformat = %H:%M\ndateformat = %Y-%m-%d\n"
            "longdateformat = %Y-%m-%d\ndatetimeformat = %Y-%m-%d %H:%M\n"
            f"longdatetimeformat = %Y-%m-%d %H:%M\nlocal_timezone = {zone}\n"
            f"default_timezone = {zone}\n\n[sqlite]\npath = {tmp_path}/khal-{zone[:4]}.db\n"
        )
        out = run(
            [
                "khal",
                "-c",
                str(config),
                "list",
                "--format",
                "{start} | {end} | {title}",
                "2026-10-01",
                "2027-02-28",
            ]
        )
        assert out.returncode == 0, out.stderr
        listed[zone] = {
            line.split(" | ")[2]: tuple(line.split(" | ")[:2])
            for line in out.stdout.splitlines()
            if line.count(" | ") == 2
        }
    # Checked by hand against a calendar: Berlin is UTC+1 in December, New York UTC-5.
    berlin = "Operators in Practice: Berlin"
    assert listed["Europe/Berlin"][berlin] == ("2026-12-03 19:00", "2026-12-03 21:30")
    assert listed["Asia/Shanghai"][berlin] == ("2026-12-04 02:00", "2026-12-04 04:30")
    assert listed["America/New_York"][berlin] == ("2026-12-03 13:00", "2026-12-03 15:30")
    meetup = "云原生 Meetup 成都站"  # 13:30–17:30 Beijing time
    assert listed["Asia/Shanghai"][meetup] == ("2026-12-19 13:30", "2026-12-19 17:30")
    assert listed["Europe/Berlin"][meetup] == ("2026-12-19 06:30", "2026-12-19 10:30")
    assert listed["America/New_York"][meetup] == ("2026-12-19 00:30", "2026-12-19 04:30")
    day = "Community Day 2027"  # all day: the same date everywhere
    assert all(times[day][0] == "2027-01-16" for times in listed.values()), listed
    assert len(listed["Europe/Berlin"]) == len(list(local.glob("*.ics")))


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


# --- feeds --------------------------------------------------------------------------------


def test_npm_feed_parsers_read_every_item(npm_clients: Path, site_built: Built) -> None:
    """rss-parser and feed-extractor rejected the prefixed Atom feed outright."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    names = ["feed.xml", "atom.xml", "feed.json"]
    out = run(["node", str(HERE / "read_feeds.mjs"), *(str(site_built.dist / n) for n in names)])
    assert out.returncode == 0, out.stderr
    seen = {Path(p).name: r for p, r in json.loads(out.stdout).items()}
    items = json.loads((site_built.dist / "feed.json").read_text())["items"]
    titles = [i["title"] for i in items]
    assert len(titles) == min(50, len(titles)) and titles
    for name in names:
        parsers = seen[name]
        assert set(parsers) == (
            {"feed-extractor"} if name.endswith("json") else {"rss-parser", "feed-extractor"}
        )
        for parser, got in parsers.items():
            assert "error" not in got, (name, parser, got)
            assert got["items"] == titles, (name, parser)
    rss = seen["feed.xml"]["rss-parser"]
    assert len(set(rss["dates"])) == len(titles)  # every item its own date
    assert seen["atom.xml"]["rss-parser"]["links"] == [i["url"] for i in items]


# --- HTML ---------------------------------------------------------------------------------


def test_the_nu_html_checker_finds_no_error(
    npm_clients: Path, bundled: Built, tmp_path: Path
) -> None:
    if shutil.which("java") is None:
        pytest.skip("java is not installed, so the Nu Html Checker cannot run")
    jar = npm_clients / "vnu-jar" / "build" / "dist" / "vnu.jar"
    site = copy_site(_mkdir(tmp_path / "site"))
    with livepipe_serve(site, tmp_path) as url:
        pages = {
            "index-zh.html": httpx.get(url + "/?lang=zh").text,
            "index-en.html": httpx.get(url + "/?lang=en").text,
        }
    for name, html in pages.items():
        (tmp_path / name).write_text(html, encoding="utf-8")
    files = [tmp_path / n for n in pages] + bundled.files("newsletter/*.html")
    assert len(files) > 4
    out = run(["java", "-jar", str(jar), "--errors-only", "--format", "json", *map(str, files)])
    messages = json.loads(out.stderr or out.stdout or '{"messages": []}')["messages"]
    errors = [(Path(m.get("url", "")).name, m.get("message")) for m in messages]
    assert not errors, errors[:5]
