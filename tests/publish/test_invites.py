"""Email invitations that stay correct: the announcement carries the event as
``text/calendar; method=REQUEST``, the changed notice after a reschedule a REQUEST with the
ledger's next SEQUENCE (the reader's calendar moves the same entry), the cancellation a
``method=CANCEL``. Sent for real to an aiosmtpd server, parsed back from the received bytes
with icalendar, and (where ../shared is there) with Mozilla's ical.js and the strict checks of
the validators."""

from __future__ import annotations

import email
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from ..conftest import VALIDATE, Validators, failures
from ..support.scenario import CONFIG, Scenario
from ..test_plan_scenarios import PAGE, SOURCE, set_time, set_video
from .test_conformance import SmtpSink, message, smtp  # noqa: F401 (fixtures)

CST = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=CST)


@pytest.fixture
def sc(tmp_path: Path, smtp: tuple[int, SmtpSink]) -> Iterator[Scenario]:  # noqa: F811
    port, _ = smtp
    config = CONFIG + (
        "[channels.news]\n"
        'type = "email"\nhost = "127.0.0.1"\n'
        f"port = {port}\n"
        'security = "none"\nrecipients_file = "subs.txt"\n'
        'from = "KubeSphere 社区 <live@kubesphere.example>"\n'
        'to = "subscribers@kubesphere.example"\n'
        '[slots.announce]\nchannels = ["news"]\n[slots.changed]\nchannels = ["news"]\n'
        '[slots.cancelled]\nchannels = ["news"]\n[slots.reminder-1d]\nchannels = ["news"]\n'
        "[slots.starting-soon]\nenabled = false\n"
    )
    scenario = Scenario(tmp_path / "site", str(tmp_path / "ledger.sqlite"), config)
    (scenario.root / "subs.txt").write_text("a@example.org\nb@example.org\n", encoding="utf-8")
    scenario.copy(SOURCE, PAGE)
    set_time(scenario, "2026-12-10 20:00-21:00")
    set_video(scenario, "")
    yield scenario
    scenario.close()


def received(sink: SmtpSink) -> list[EmailMessage]:
    return [email.message_from_bytes(raw, policy=default_policy) for _, _, raw in sink.messages]


def calendar_part(mail: EmailMessage) -> tuple[str, bytes] | None:
    for part in mail.iter_parts():
        if part.get_content_type() == "text/calendar":
            return part.get_param("method"), part.get_payload(decode=True)
    return None


def test_invitation_requests_moves_and_cancels_the_same_entry(
    sc: Scenario,
    smtp: tuple[int, SmtpSink],  # noqa: F811
    tmp_path: Path,
) -> None:
    _, sink = smtp
    sc.sync(T0)
    assert [o.send.slot for o in sc.send_due(T0)] == ["announce"]
    [announce] = received(sink)
    assert [p.get_content_type() for p in announce.iter_parts()] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    method, data = calendar_part(announce)  # type: ignore[misc]
    assert method == "REQUEST"
    cal = Calendar.from_ical(data)
    [vevent] = cal.walk("VEVENT")
    uid = str(vevent["UID"])
    assert str(cal["METHOD"]) == "REQUEST" and int(vevent["SEQUENCE"]) == 0
    assert vevent.decoded("DTSTART") == datetime(2026, 12, 10, 20, 0, tzinfo=CST)
    assert str(vevent["ORGANIZER"]) == "mailto:live@kubesphere.example"
    assert vevent["ORGANIZER"].params["CN"] == "KubeSphere 社区"
    # a Bcc'd batch: the attendee is the list address, nobody asked to reply
    assert str(vevent["ATTENDEE"]) == "mailto:subscribers@kubesphere.example"
    assert vevent["ATTENDEE"].params["RSVP"] == "FALSE"
    assert uid == sc.ledger.events()[0].uid  # the same entry as the subscription calendars
    files = [tmp_path / "announce.ics"]
    files[0].write_bytes(data)

    # Rescheduled by an hour, after the announcement: the changed email moves the entry.
    set_time(sc, "2026-12-10 21:00-22:00")
    sc.sync(T0 + timedelta(hours=1))
    assert [o.send.slot for o in sc.send_due(T0 + timedelta(hours=1))] == ["changed"]
    method, data = calendar_part(received(sink)[1])  # type: ignore[misc]
    [moved] = Calendar.from_ical(data).walk("VEVENT")
    assert method == "REQUEST" and str(moved["UID"]) == uid
    assert int(moved["SEQUENCE"]) == 1
    assert moved.decoded("DTSTART") == datetime(2026, 12, 10, 21, 0, tzinfo=CST)
    files.append(tmp_path / "changed.ics")
    files[1].write_bytes(data)

    # Cancelled (KubeSphere pages have no status: the team deletes the page): METHOD:CANCEL,
    # the next SEQUENCE, STATUS:CANCELLED.
    sc.delete(PAGE)
    sc.sync(T0 + timedelta(hours=2))
    assert [o.send.slot for o in sc.send_due(T0 + timedelta(hours=2))] == ["cancelled"]
    method, data = calendar_part(received(sink)[2])  # type: ignore[misc]
    cal = Calendar.from_ical(data)
    [gone] = cal.walk("VEVENT")
    assert method == "CANCEL" and str(cal["METHOD"]) == "CANCEL"
    assert str(gone["UID"]) == uid and int(gone["SEQUENCE"]) == 2
    assert str(gone["STATUS"]) == "CANCELLED"
    files.append(tmp_path / "cancel.ics")
    files[2].write_bytes(data)
    for path in files:  # every received calendar as a file, for the independent readers
        (tmp_path / "invites").mkdir(exist_ok=True)
        (tmp_path / "invites" / path.name).write_bytes(path.read_bytes())


def test_reminders_carry_no_invitation(sc: Scenario, smtp: tuple[int, SmtpSink]) -> None:  # noqa: F811
    _, sink = smtp
    sc.sync(T0)
    sc.send_due(T0)
    sc.send_due(datetime(2026, 12, 9, 20, 0, tzinfo=CST))
    announce, reminder = received(sink)
    assert calendar_part(announce) is not None
    assert calendar_part(reminder) is None


def test_invite_off(tmp_path: Path, smtp: tuple[int, SmtpSink], message) -> None:  # noqa: F811
    from livepipe.config import ChannelSettings
    from livepipe.publish import PUBLISHERS

    port, sink = smtp
    (tmp_path / "subs.txt").write_text("a@example.org\n")
    settings = ChannelSettings(
        type="email",
        host="127.0.0.1",
        port=port,
        security="none",
        recipients_file="subs.txt",
        invite=False,
        **{"from": "Live <live@example.org>"},
    )
    chan = PUBLISHERS["email"]("news", settings, root=tmp_path, env={})
    chan.send(message)  # an announcement
    assert calendar_part(received(sink)[0]) is None


ICALJS = """
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');
const ICAL = createRequire(path.join(process.argv[2], 'package.json'))('ical.js');
const out = {};
for (const f of process.argv.slice(3)) {
  const cal = new ICAL.Component(ICAL.parse(fs.readFileSync(f, 'utf8')));
  const ev = cal.getFirstSubcomponent('vevent');
  out[f] = {method: cal.getFirstPropertyValue('method'), uid: ev.getFirstPropertyValue('uid'),
            sequence: ev.getFirstPropertyValue('sequence'),
            status: ev.getFirstPropertyValue('status'),
            start: new ICAL.Event(ev).startDate.toJSDate().toISOString()};
}
console.log(JSON.stringify(out));
"""


def test_invitations_read_by_icaljs_and_the_validators(
    sc: Scenario,
    smtp: tuple[int, SmtpSink],  # noqa: F811
    tmp_path: Path,
    validators: Validators,
) -> None:
    test_invitation_requests_moves_and_cancels_the_same_entry(sc, smtp, tmp_path)
    files = sorted((tmp_path / "invites").iterdir())
    report = validators.ics(files)
    assert failures(report) == []
    home = Path(
        os.environ.get("VALIDATE_HOME")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "livepipe-validate"
    )
    icaljs = home / "node" / "node_modules" / "ical.js"
    if not icaljs.is_dir():
        pytest.fail(f"the validators' ical.js is not at {icaljs} ({VALIDATE}/setup.sh ran)")
    script = tmp_path / "read.cjs"
    script.write_text(ICALJS, encoding="utf-8")
    proc = subprocess.run(
        ["node", str(script), str(icaljs.parent.parent), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    seen = {Path(k).stem: v for k, v in json.loads(proc.stdout).items()}
    assert {k: (v["method"], v["sequence"], v["status"]) for k, v in seen.items()} == {
        "announce": ("REQUEST", 0, "CONFIRMED"),
        "changed": ("REQUEST", 1, "CONFIRMED"),
        "cancel": ("CANCEL", 2, "CANCELLED"),
    }
    assert seen["announce"]["start"] == "2026-12-10T12:00:00.000Z"
    assert seen["changed"]["start"] == "2026-12-10T13:00:00.000Z"
    assert len({v["uid"] for v in seen.values()}) == 1
