"""Every email livepipe sends, scored by SpamAssassin (Debian's, installed by the test setup;
network tests off, as a receiving server would run without its DNS lists): each message kind
of each bundled event, in both languages, and the weekly digest, must score 0.5 or less.
Before: Chinese emails hit HTML_OBFUSCATE_05_10 (a tag between two CJK runs counted as a
split word, +0.6) and reminder/replay emails MPART_ALT_DIFF (a whole newsletter beside a
two-line text, +2.2)."""

from __future__ import annotations

import mailbox
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from livepipe.config import ChannelSettings
from livepipe.models import SlotKind
from livepipe.publish import PUBLISHERS
from livepipe.render.messages import render_message
from livepipe.render.templating import Templates
from livepipe.site import Site, load

from ..conftest import _apt_install
from ..support import bundled_site, make_send

pytestmark = pytest.mark.clients
KINDS = (SlotKind.ANNOUNCE, SlotKind.REMINDER, SlotKind.CHANGED, SlotKind.CANCELLED,
         SlotKind.REPLAY)  # fmt: skip
LIMIT = 0.5


@pytest.fixture(scope="module")
def spamassassin() -> str:
    if not shutil.which("spamassassin"):
        why = _apt_install("spamassassin")
        if not shutil.which("spamassassin"):
            pytest.skip(f"SpamAssassin is not installed and could not be: {why}")
    return str(shutil.which("spamassassin"))


def test_every_email_scores_at_most_half_a_point(spamassassin: str, tmp_path: Path) -> None:
    site = Site.locate(bundled_site(tmp_path / "site"))
    result = load(site, cache=False)
    templates = Templates(site.settings.root / "templates")  # type: ignore[operator]
    (tmp_path / "subs.txt").write_text("reader@example.org\n")
    channel = PUBLISHERS["email"](
        "news",
        ChannelSettings(
            type="email",
            host="127.0.0.1",
            security="none",
            recipients_file="subs.txt",
            unsubscribe="https://live.example.org/unsubscribe?u={email}",
            **{"from": "Cloud Native Live <live@example.org>"},
        ),
        root=tmp_path,
        env={},
    )
    box = mailbox.mbox(tmp_path / "out.mbox")
    made: dict[str, str] = {}
    langs = set()
    for event in result.events:
        langs.add(event.lang)
        for kind in KINDS:
            at = event.start - timedelta(days=1)
            send = make_send(uid=event.uid, slot=str(kind), kind=kind, due=at,
                             valid_until=event.end)  # fmt: skip
            message = render_message(send, event, site.settings, templates, now=at)
            mail = channel.build(message, ["reader@example.org"])
            made[mail["Message-ID"]] = f"{event.lang} {kind} {event.title}"
            box.add(mail)
    week = result.events[0].start - timedelta(days=2)
    digest = make_send(
        uid="site@live.example.org", slot="digest", kind=SlotKind.DIGEST, occurrence="2026-W43",
        due=week,
    )  # fmt: skip
    message = render_message(digest, None, site.settings, templates, week_events=result.events)
    mail = channel.build(message, ["reader@example.org"])
    made[mail["Message-ID"]] = "digest"
    box.add(mail)
    box.close()
    assert langs >= {"zh", "en"} and len(made) > 2 * len(KINDS)
    with open(tmp_path / "out.mbox", "rb") as mbox:
        scored = subprocess.run(
            [spamassassin, "-L", "-t", "--mbox"], stdin=mbox, capture_output=True, timeout=600
        )
    (tmp_path / "scored.mbox").write_bytes(scored.stdout)
    scores = {}
    read = mailbox.mbox(tmp_path / "scored.mbox")
    for mail in read:
        status = " ".join(str(mail["X-Spam-Status"]).split())
        score = float(status.split("score=", 1)[1].split()[0])
        scores[made[mail["Message-ID"]]] = (score, status.split("tests=", 1)[1].split()[0])
    read.close()
    assert len(scores) == len(made), scored.stderr[-500:]
    over = {what: got for what, got in scores.items() if got[0] > LIMIT}
    assert not over, over
