"""Crash safety: sending processes SIGKILLed at random points, over hundreds of runs.

Each run is a forked process running ``send-due`` that dies at one of the sender's
checkpoints (before/after claim, after the channel call, after recording) or at a random
moment (SIGKILL from outside). A final clean run recovers and finishes. The loopback receiver
counts requests and processed messages per Idempotency-Key.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livepipe.cli import app
from livepipe.ledger import open_ledger
from livepipe.publish import make_channels
from livepipe.records import SendState
from livepipe.send import CRASH_ENV, Sender

from .support.ledgers import fill, site_config
from .support.receiver import Stats, serve

POINTS = ("before-claim", "after-claim", "after-call", "after-record")


def child_run(settings, url: str, crash: str | None, kill_after: float | None) -> None:
    pid = os.fork()
    if pid == 0:  # the sending process
        code = 0
        try:
            if crash:
                os.environ[CRASH_ENV] = crash
            ledger = open_ledger(settings, url)
            Sender(
                ledger, settings, make_channels(settings), clock=lambda: datetime.now(UTC)
            ).send_due()
        except BaseException:
            code = 3
        os._exit(code)
    if kill_after is not None:
        time.sleep(kill_after)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    assert not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3), "sender raised"


def harness(tmp_path: Path, url: str, *, idempotent: bool, runs: int, seed: int):
    rng = random.Random(seed)
    stats = Stats()
    keys: list[str] = []
    kinds: Counter[str] = Counter()
    with serve(stats) as base:
        path = "/dedup" if idempotent else "/plain"
        settings = site_config(tmp_path / "site", base + path, idempotent=idempotent)
        ledger = open_ledger(settings, url)
        done = 0
        round_no = 0
        while done < runs:
            keys += fill(ledger, datetime.now(UTC), 5, prefix=f"r{round_no}-")
            round_no += 1
            for _ in range(rng.randint(3, 8)):  # several crashing runs per batch of 20 sends
                if rng.random() < 0.8:
                    point = rng.choice(POINTS)
                    child_run(settings, url, f"{point}:{rng.randint(1, 4)}", None)
                    kinds[point] += 1
                else:
                    child_run(settings, url, None, rng.uniform(0.0, 0.05))
                    kinds["random"] += 1
                done += 1
        # A final clean run recovers what the dead ones left and sends the rest.
        child_run(settings, url, None, None)
        sends = {s.key: s for s in ledger.sends()}
        ledger.close()
    return stats, keys, sends, kinds, settings


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_200_crashes_idempotent_channel_exactly_once(tmp_path: Path) -> None:
    url = str(tmp_path / "ledger.sqlite")
    stats, keys, sends, kinds, _ = harness(tmp_path, url, idempotent=True, runs=200, seed=1)
    assert sum(kinds.values()) >= 200 and all(kinds[p] > 10 for p in POINTS)
    assert len(keys) == len(set(keys)) == len(sends)
    assert {k: stats.processed[k] for k in keys} == {k: 1 for k in keys}  # 0 lost, 0 duplicates
    assert all(s.state is SendState.SENT for s in sends.values())
    # Some calls were repeated after a crash, and the receiver's deduplication absorbed them.
    assert sum(stats.raw.values()) >= len(keys)


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_crashes_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    stats, keys, sends, _, _ = harness(tmp_path, pg_url, idempotent=True, runs=60, seed=2)
    assert {k: stats.processed[k] for k in keys} == {k: 1 for k in keys}
    assert all(s.state is SendState.SENT for s in sends.values())


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_crashes_without_idempotency_never_resend(tmp_path: Path) -> None:
    url = str(tmp_path / "ledger.sqlite")
    stats, keys, sends, kinds, _ = harness(tmp_path, url, idempotent=False, runs=200, seed=3)
    assert kinds["after-call"] > 10
    assert max(stats.raw[k] for k in keys) == 1  # never delivered twice
    uncertain = [k for k, s in sends.items() if s.state is SendState.UNCERTAIN]
    sent = [k for k, s in sends.items() if s.state is SendState.SENT]
    assert len(uncertain) + len(sent) == len(keys)  # every send accounted for
    assert uncertain, "crashes after the call must leave uncertain sends"
    assert all(stats.raw[k] == 1 for k in sent)  # nothing marked sent was lost
    # The operator is told: `livepipe plan` lists them and exits 1.
    result = CliRunner().invoke(
        app, ["plan", str(tmp_path / "site"), "--ledger", url], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 1
    assert f"{len(uncertain)} uncertain send(s)" in result.output
    for key in uncertain[:3]:
        assert key in result.output


@pytest.mark.parametrize("point", ["after-claim", "after-call"])
def test_single_crash_recovery_states(tmp_path: Path, point: str) -> None:
    """A claim left by a dead process: back to pending before the call; after the call,
    pending again only because the channel deduplicates (and uncertain when it does not)."""
    url = str(tmp_path / "ledger.sqlite")
    with serve(Stats()) as base:
        for idempotent in (True, False):
            settings = site_config(
                tmp_path / f"s{idempotent}", base + "/plain", idempotent=idempotent
            )
            ledger = open_ledger(settings, url + str(idempotent))
            keys = fill(ledger, datetime.now(UTC), 1)
            child_run(settings, url + str(idempotent), f"{point}:1", None)
            sender = Sender(
                ledger, settings, make_channels(settings), clock=lambda: datetime.now(UTC)
            )
            recovered = dict((rec.key, state) for rec, state in sender.recover())
            expect = (
                SendState.PENDING if point == "after-claim" or idempotent else (SendState.UNCERTAIN)
            )
            assert list(recovered.values()) == [expect]
            assert set(recovered) <= set(keys)
            ledger.close()


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_crashes_with_the_email_channel(tmp_path: Path) -> None:
    """SMTP cannot deduplicate: a crash during the call leaves the send uncertain (reported),
    never resent; everything else arrives exactly once."""
    import email
    from collections import Counter as Count

    from aiosmtpd.controller import Controller

    from livepipe.config import load_settings

    from .support.receiver import free_port

    seen: Count[str] = Count()

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            seen[email.message_from_bytes(envelope.content)["Message-ID"]] += 1
            return "250 OK"

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        root = tmp_path / "site"
        root.mkdir()
        (root / "subs.txt").write_text("a@example.org\nb@example.org\n")
        (root / "livepipe.toml").write_text(
            '[site]\nname = "Mail"\nbase_url = "https://crash.example"\ntimezone = "UTC"\n'
            f'[channels.hook]\ntype = "email"\nhost = "127.0.0.1"\nport = {port}\n'
            'security = "none"\nrecipients_file = "subs.txt"\nfrom = "live@crash.example"\n'
        )
        settings = load_settings(root / "livepipe.toml")
        url = str(tmp_path / "ledger.sqlite")
        ledger = open_ledger(settings, url)
        rng = random.Random(4)
        keys: list[str] = []
        for batch in range(10):
            keys += fill(ledger, datetime.now(UTC), 2, prefix=f"m{batch}-")
            for _ in range(6):
                point = rng.choice(POINTS)
                child_run(settings, url, f"{point}:{rng.randint(1, 3)}", None)
        child_run(settings, url, None, None)
        sends = {s.key: s for s in ledger.sends()}
        ledger.close()
    finally:
        controller.stop()
    ids = {k: f"<{k}@crash.example>" for k in keys}
    assert max(seen[ids[k]] for k in keys) == 1  # never twice
    uncertain = [k for k in keys if sends[k].state is SendState.UNCERTAIN]
    sent = [k for k in keys if sends[k].state is SendState.SENT]
    assert len(sent) + len(uncertain) == len(keys) and uncertain
    assert all(seen[ids[k]] == 1 for k in sent)  # 0 lost
