"""Soak: `livepipe up` for a while (15 minutes) as a community runs it, with trouble.

    python bench/bench_soak.py [MINUTES [EVENTS]]     # 15 200 (issue 28: 30 200)

200 events whose starting-soon reminders fall due through the run, to two webhook channels:
``good`` and ``flaky`` (half its calls fail at random: HTTP 503 to 40 %, retried with backoff
inside each send's window, and 400 to 10 %, failed for good), failures alerted to an ``ops``
webhook; one talk on a bilibili room (stand-in) whose stream flaps (live/offline every
20 s); two merges (`livepipe notify`) that reschedule 10 events, cancel 5 and add 5, and
add a burst of 50 events with one start (100 sends due at once, 13 minutes later). At
the end it checks and prints:

- every send ended sent / failed / missed / skipped / withdrawn, or is pending with a reason
  (not due yet, or the error it will be retried after); none left claimed;
- each alert arrived once (alerts are keyed by their subject);
- one live notice for the flapping stream;
- /metrics' ``livepipe_sends`` equal the ledger's counts, state by state;
- lateness of the sends to ``good`` (arrival − due), and `up`'s resident memory after the
  first minute and at the end (goal: growth < 10 %), with the curve of `up` and its Prefect
  server, a point a minute (issue 28: all at idle <= 250 MB, flat).
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_flows import _wait_healthy, merge  # noqa: E402

ROOM = "31337"
BURST = 50  # events added at each merge with one start: 100 starting-soon sends at once


def rss_kb(pid: int) -> int:
    """Resident memory of the `up` process in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (its Prefect server), and theirs."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found + [g for c in found for g in children(c)]


def memory(pid: int) -> tuple[int, int]:
    """Resident KiB of ``pid`` and of everything it started."""
    kids = 0
    for child in children(pid):
        try:
            kids += rss_kb(child)
        except OSError:
            continue
    return rss_kb(pid), kids


def counts_agree(hook: int, settings_path: Path) -> tuple[bool, dict[str, object]]:
    """/metrics' livepipe_sends and the ledger's counts, read back to back (tried again
    while a send changes state between the two reads)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    from livepipe.config import load_settings
    from livepipe.ledger import open_ledger

    diff: dict[str, object] = {}
    for _ in range(5):
        scraped = httpx.get(f"http://127.0.0.1:{hook}/metrics", timeout=10).text
        ledger = open_ledger(load_settings(settings_path))
        try:
            rows = Counter((str(s.state), s.channel) for s in ledger.sends())
        finally:
            ledger.close()
        metric: dict[tuple[str, str], float] = {}
        for family in text_string_to_metric_families(scraped):
            if family.name == "livepipe_sends":
                for sample in family.samples:
                    metric[(sample.labels["state"], sample.labels["channel"])] = sample.value
        keys = set(rows) | {k for k, v in metric.items() if v}
        diff = {f"{k[0]}/{k[1]}": (metric.get(k, 0), rows.get(k, 0)) for k in keys}
        diff = {k: v for k, v in diff.items() if v[0] != v[1]}  # type: ignore[index]
        if not diff:
            return True, {}
        time.sleep(1)
    return False, diff


def receivers() -> tuple[object, dict[str, list[tuple[float, dict[str, object]]]]]:
    """One app: /good and /ops record every body with its arrival; /flaky answers 503 to
    half its calls (seeded), else records."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    got: dict[str, list[tuple[float, dict[str, object]]]] = {}
    rng = random.Random(7)
    lock = threading.Lock()

    async def hook(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        body = json.loads(await request.body())
        with lock:
            draw = rng.random()
            if name == "flaky" and draw < 0.4:  # half its calls fail: most for a while …
                return JSONResponse({"error": "busy"}, status_code=503)
            if name == "flaky" and draw < 0.5:  # … some for good (failed, alerted)
                return JSONResponse({"error": "no such room"}, status_code=400)
            got.setdefault(name, []).append((time.time(), body))
        return JSONResponse({"id": f"{name}-{len(got[name])}"})

    return Starlette(routes=[Route("/{name}", hook, methods=["POST"])]), got


def page(i: int, start: datetime, extra: str = "") -> str:
    return (
        f"---\ntitle: Talk {i}\nstart: {start.isoformat()}\nlocation: online\n{extra}---\n"
        f"Talk number {i}.\n"
    )


def soak(minutes: float, events: int) -> None:
    from livepipe.config import load_settings
    from livepipe.ledger import open_ledger
    from livepipe.records import SendState
    from tests.support.receiver import free_port, serve_app
    from tests.support.streams import Platforms, make_app, watch_settings

    port, hook = free_port(), free_port()
    home = Path(tempfile.mkdtemp(prefix="lp-soak-"))
    platforms = Platforms()
    app, got = receivers()
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    exe = str(Path(sys.executable).parent / "livepipe")
    span = timedelta(minutes=minutes)
    with serve_app(make_app(platforms)) as streams, serve_app(app) as base:  # type: ignore[arg-type]
        site = home / "site"
        (site / "content").mkdir(parents=True)
        (site / "livepipe.toml").write_text(
            '[site]\nname = "Soak"\nbase_url = "https://soak.example"\ntimezone = "UTC"\n'
            + "".join(
                f'[channels.{n}]\ntype = "webhook"\nurl = "{base}/{n}"\nunsigned = true\n'
                for n in ("good", "flaky", "ops")
            )
            + '[alerts]\nchannel = "ops"\n'
            + "[slots.digest]\nenabled = false\n[slots.reminder-1d]\nenabled = false\n"
            + '[slots.announce]\nchannels = ["good"]\nmin_lead = "0s"\nfold = "0s"\n'
            + '[slots.starting-soon]\nchannels = ["good", "flaky"]\n'
            + '[slots.changed]\nchannels = ["good"]\n[slots.cancelled]\nchannels = ["good"]\n'
            + '[slots.live]\nchannels = ["good"]\n'
            + watch_settings(streams, "5s"),
            encoding="utf-8",
        )
        t0 = datetime.now(UTC).replace(microsecond=0)
        starts = {i: t0 + timedelta(minutes=11) + span * (i / events) * 0.8 for i in range(events)}
        for i, start in starts.items():
            (site / "content" / f"e{i}.md").write_text(page(i, start), encoding="utf-8")
        talk = t0 + timedelta(minutes=20)
        (site / "content" / "room.md").write_text(
            page(9999, talk, f"live_url: https://live.bilibili.com/{ROOM}\n"), encoding="utf-8"
        )
        platforms.go_offline(platforms.rooms, ROOM)
        log = open(home / "up.log", "wb")
        proc = subprocess.Popen(
            [exe, "up", str(site), "--port", str(port), "--hook-port", str(hook)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        ended = t0 + span
        try:
            _wait_healthy(f"http://127.0.0.1:{hook}/healthz")
            time.sleep(60)
            rss_start = rss_kb(proc.pid)
            own, server = memory(proc.pid)
            curve = [(1.0, own, server)]
            idle = (own + server) / 1024
            print(
                f"up resident after its first minute: {own / 1024:.0f} MB, its Prefect server "
                f"{server / 1024:.0f} MB: {idle:.0f} MB in all at idle (goal <= 250 MB)",
                flush=True,
            )
            sampled = time.time()
            merges = [t0 + span / 3, t0 + span * 2 / 3]
            flap_at = time.time()
            live = False
            merged = 0
            rng = random.Random(11)
            while datetime.now(UTC) < ended:
                if time.time() - sampled >= 60:  # the memory curve, a point a minute
                    sampled = time.time()
                    since = (datetime.now(UTC) - t0).total_seconds() / 60
                    curve.append((since, *memory(proc.pid)))
                if time.time() - flap_at >= 20:  # the stream flaps
                    flap_at = time.time()
                    live = not live
                    if live:
                        platforms.go_live(platforms.rooms, ROOM, datetime.now(UTC))
                    else:
                        platforms.go_offline(platforms.rooms, ROOM)
                if merged < 2 and datetime.now(UTC) >= merges[merged]:
                    merged += 1
                    todo = rng.sample(sorted(starts), 15)
                    for i in todo[:10]:  # rescheduled by 30 minutes
                        starts[i] += timedelta(minutes=30)
                        (site / "content" / f"e{i}.md").write_text(page(i, starts[i]), "utf-8")
                    for i in todo[10:]:  # cancelled
                        (site / "content" / f"e{i}.md").write_text(
                            page(i, starts[i], "status: cancelled\n"), "utf-8"
                        )
                    for j in range(5):  # added
                        n = events + merged * 10 + j
                        start = datetime.now(UTC) + timedelta(minutes=12 + j)
                        (site / "content" / f"e{n}.md").write_text(page(n, start), "utf-8")
                    burst = (datetime.now(UTC) + timedelta(minutes=13)).replace(second=0)
                    for j in range(BURST):  # a burst: all at the same minute
                        n = 100_000 * merged + j
                        (site / "content" / f"b{n}.md").write_text(page(n, burst), "utf-8")
                    took = merge(site, port, 0)
                    print(f"merge {merged}: notified ({took:.1f} s)", flush=True)
                time.sleep(0.5)
            time.sleep(10)
            rss_end = rss_kb(proc.pid)
            curve.append(((datetime.now(UTC) - t0).total_seconds() / 60, *memory(proc.pid)))
            import httpx

            agree, diff = counts_agree(hook, site / "livepipe.toml")
            health = httpx.get(f"http://127.0.0.1:{hook}/healthz", timeout=10).json()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
        now = datetime.now(UTC)
        ledger = open_ledger(load_settings(site / "livepipe.toml"))
        try:
            sends = ledger.sends()
        finally:
            ledger.close()
    states = Counter(str(s.state) for s in sends)
    (home / "received.json").write_text(json.dumps(got, ensure_ascii=False, default=str))
    unexplained = [
        s
        for s in sends
        if s.state is SendState.CLAIMED
        or (s.state is SendState.PENDING and s.due <= now - timedelta(seconds=30) and not s.error)
    ]
    keys = Counter(str(body.get("key")) for _, body in got.get("ops", []))
    dup_alerts = sum(n - 1 for n in keys.values() if n > 1)
    due = {s.key: s.due for s in sends}
    late = sorted(
        at - due[str(body.get("key"))].timestamp()
        for at, body in got.get("good", [])
        if str(body.get("key")) in due and body.get("slot") == "starting-soon"
    )
    lives = [b for _, b in got.get("good", []) if b.get("slot") == "live"]
    q = statistics.quantiles(late, n=100, method="inclusive") if len(late) > 2 else [0.0] * 99
    print(
        f"soak: {minutes:g} min, {events} events, {len(sends)} sends: "
        f"{dict(sorted(states.items()))}"
    )
    print(f"  lines up printed: {sum(1 for _ in (home / 'up.log').open(encoding='utf-8'))}")
    print(f"  pending without a reason or left claimed: {len(unexplained)}")
    print(f"  alerts: {len(got.get('ops', []))} arrived, duplicates {dup_alerts}")
    print(f"  live notices for the flapping stream: {len(lives)} (goal 1)")
    print(f"  /metrics livepipe_sends vs the ledger: {'equal' if agree else diff}")
    print(f"  /healthz at the end: {health}")
    if late:
        print(
            f"  starting-soon → good lateness: p50 {statistics.median(late):.2f} s, "
            f"p99 {q[98]:.2f} s, max {late[-1]:.2f} s ({len(late)} sends)"
        )
    growth = (rss_end - rss_start) / rss_start * 100
    print(
        f"  up resident memory: {rss_start / 1024:.0f} MB after a minute, {rss_end / 1024:.0f} MB "
        f"at the end: {growth:+.1f} % (goal < 10 %)",
        flush=True,
    )
    print("  memory curve (minute: up, its Prefect server, all, in MB):")
    for minute, own, server in curve:
        mb = [kib / 1024 for kib in (own, server, own + server)]
        print(f"    {minute:5.1f}: " + " ".join(f"{m:6.0f}" for m in mb))


if __name__ == "__main__":
    soak(
        float(sys.argv[1]) if len(sys.argv) > 1 else 15.0,
        int(sys.argv[2]) if len(sys.argv) > 2 else 200,
    )
