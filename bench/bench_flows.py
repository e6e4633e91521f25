"""Benchmarks for the Prefect side.

    python bench/bench_flows.py noop [N]          # cost of a no-op sync at N pages (10000)
    python bench/bench_flows.py burst [N [C]]     # N sends due at the same instant (200),
                                                  # N/C events x C signed webhook channels (4),
                                                  # through `livepipe up` (its own server)
    python bench/bench_flows.py scale-out [N [C]] # the same through `up --no-publish` + 2
                                                  # workers, Prefect and ledger on PostgreSQL
    python bench/bench_flows.py dispatch [N [C [T]]] # the dispatcher alone (no Prefect), T threads
                                                  # (16), beside the anchor: signed POSTs + 3
                                                  # SQLite writes each, CPU per send of both
                                                  # (BENCH_ROUNDS=5: five rounds, the median)
    python bench/bench_flows.py dispatch-instructions [N [C [T]]] # the same under callgrind:
                                                  # instructions per send of both (N: 200)
    python bench/bench_flows.py sparse [N]        # N sends 1.2 s apart through `livepipe up`
    python bench/bench_flows.py live [N [S]]      # N events (20) on their own bilibili rooms
                                                  # (stand-in) going live at random moments,
                                                  # watched every S s (5) by `livepipe up`

Every run through `livepipe up` starts its sync the way a merge does (`livepipe notify`:
the merge event → the sync deployment) and prints how long the merge took to reach the
ledger; the sends are due a lead after it (printed), so lateness never includes the sync.

Goals: no-op sync < 0.5 s at 10k pages excluding Prefect start-up (issue 6); bursts: p99
≤ 2 s for 200 sends due at once, ≤ 5 s for 1,000, 0 duplicates, 0 lost (issue 13); live:
flip → notice p99 ≤ interval + 2 s, ≤ 1 request per room per interval (issue 17).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from synth import generate  # noqa: E402


def noop(n: int) -> None:
    from livepipe.gitsource import fingerprint
    from livepipe.ledger import open_ledger
    from livepipe.pipeline import sync
    from livepipe.site import Site

    (HERE / "out").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=HERE / "out") as tmp:
        root = generate(Path(tmp) / "site", n)
        site = Site.locate(root)
        ledger = open_ledger(site.settings)
        t = time.perf_counter()
        sync(site, ledger, datetime.now(UTC), out=Path(tmp) / "dist")
        first = time.perf_counter() - t
        stamp = fingerprint(site)
        ledger.kv_put("sync:fingerprint", stamp, None)
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            same = ledger.kv_get("sync:fingerprint", datetime.now(UTC)) == fingerprint(
                Site.locate(root)
            )
            runs.append(time.perf_counter() - t)
            assert same
        ledger.close()
    print(
        f"pages {n}: first sync (load, plan, ledger, build) {first:.2f} s; "
        f"no-op sync check: best {min(runs) * 1000:.0f} ms, median "
        f"{statistics.median(runs) * 1000:.0f} ms (goal < 500 ms)"
    )


SECRET_ENV = "LP_BENCH_SECRET"
# Seconds from the merge to the first due send: three times what the sync takes on this
# machine now (measured first), plus this for Prefect's part (the merge event, a flow run).
LEAD = 15.0
SECRET = "bench-signing-secret"
PG_URL = os.environ.get("LIVEPIPE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def burst_site(root: Path, base: str, channels: int, ledger: str | None = None) -> Path:
    """A site whose only slot is starting-soon, to ``channels`` signed webhook channels."""
    (root / "content").mkdir(parents=True)
    hooks = [f"hook{c}" for c in range(channels)]
    (root / "livepipe.toml").write_text(
        '[site]\nname = "B"\nbase_url = "https://b.example"\ntimezone = "UTC"\n'
        + (f'[ledger]\nurl = "{ledger}"\n' if ledger else "")
        + "".join(
            f'[channels.{h}]\ntype = "webhook"\nurl = "{base}/dedup"\nsecret_env = "{SECRET_ENV}"\n'
            for h in hooks
        )
        + "[slots.announce]\nenabled = false\n[slots.digest]\nenabled = false\n"
        + "[slots.reminder-1d]\nenabled = false\n"
        + f"[slots.starting-soon]\nchannels = {hooks!r}\n".replace("'", '"')
    )
    return root


def write_events(site: Path, events: int, due_at: datetime, spacing: float = 0.0) -> None:
    """``events`` pages starting 10 minutes after ``due_at`` (their starting-soon time), each
    ``spacing`` seconds after the one before."""
    for i in range(events):
        start = (due_at + timedelta(minutes=10, seconds=i * spacing)).isoformat()
        (site / "content" / f"e{i}.md").write_text(
            f"---\ntitle: E{i}\nstart: {start}\nlocation: online\n---\n"
        )


def merge(site: Path, port: int, expected: int, timeout: float = 300) -> float:
    """What CI does after a merge (`livepipe notify`), then wait until the sync deployment
    run by `up` has put ``expected`` pending sends in the ledger; returns the seconds."""
    env = {**os.environ, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    started = time.time()
    exe = str(Path(sys.executable).parent / "livepipe")
    commit = os.urandom(20).hex()
    subprocess.run(
        [exe, "notify", str(site), "--commit", commit],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    while len(pending_due(site / "livepipe.toml")) < expected:
        if time.time() - started > timeout:
            raise SystemExit(f"the merge did not reach the ledger in {timeout:.0f} s")
        time.sleep(0.2)
    return time.time() - started


def report(label: str, due: dict[str, datetime], stats: object) -> None:
    arrived: dict[str, float] = stats.arrived  # type: ignore[attr-defined]
    raw: dict[str, int] = stats.raw  # type: ignore[attr-defined]
    late = sorted(arrived[k] - due[k].timestamp() for k in due if k in arrived)
    if not late:
        print(f"{label}: sends {len(due)}, none delivered", flush=True)
        return
    q = statistics.quantiles(late, n=100, method="inclusive") if len(late) > 2 else late * 100
    dupes = sum(c - 1 for c in raw.values() if c > 1)
    bad = getattr(stats, "bad_signatures", 0)
    print(
        f"{label}: sends {len(due)}, delivered {len(late)}, lost {len(due) - len(late)}, "
        f"duplicates {dupes}, bad signatures {bad}: lateness p50 {statistics.median(late):.2f} s, "
        f"p95 {q[94]:.2f} s, p99 {q[98]:.2f} s, max {late[-1]:.2f} s",
        flush=True,
    )


def wait_arrivals(
    stats: object, due: dict[str, datetime], until: float, settle: float = 2.0
) -> None:
    arrived: dict[str, float] = stats.arrived  # type: ignore[attr-defined]
    while sum(k in arrived for k in due) < len(due) and time.time() < until:
        time.sleep(0.05)
    time.sleep(settle)  # would a second delivery still come?


def pending_due(settings_path: Path) -> dict[str, datetime]:
    from livepipe.config import load_settings
    from livepipe.ledger import open_ledger

    ledger = open_ledger(load_settings(settings_path))
    try:
        return {s.key: s.due for s in ledger.sends()}
    finally:
        ledger.close()


# The anchor the dispatcher is measured against (issue 28): the same number of signed POSTs
# to the same receiver, from the same number of threads, each with three SQLite write
# transactions (claim, call started, sent) on its own connection, and nothing else. Each
# thread makes its connection and HTTP client before the clock starts, as the dispatcher
# does before anything is due (an SSL context each: they were counted in the anchor).
ANCHOR = """
import hashlib, hmac, json, os, queue, sqlite3, sys, threading, time
import httpx
url, n, threads, db, secret = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:6]
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE sends (key TEXT PRIMARY KEY, state TEXT, at TEXT)")
keys = [(f"anchor-{i}",) for i in range(n)]
conn.executemany("INSERT INTO sends VALUES (?, 'pending', NULL)", keys)
todo = queue.SimpleQueue()
for i in range(n):
    todo.put(f"anchor-{i}")
def write(db, sql, *args):
    db.execute("BEGIN IMMEDIATE")
    db.execute(sql, args)
    db.execute("COMMIT")
set_up = threading.Barrier(threads + 1)
go = threading.Event()
def work():
    db = sqlite3.connect(os.environ["DB"], timeout=60, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")
    client = httpx.Client()
    set_up.wait()  # connections and clients are made first, as the dispatcher's are
    go.wait()
    while True:
        try:
            key = todo.get_nowait()
        except queue.Empty:
            return
        write(db, "UPDATE sends SET state = 'claimed', at = ? WHERE key = ?", time.time(), key)
        write(db, "UPDATE sends SET at = ? WHERE key = ?", time.time(), key)
        body = json.dumps({"key": key, "title": "E", "text": "x" * 300}).encode()
        stamp = str(int(time.time()))
        mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        client.post(url, content=body, headers={
            "content-type": "application/json", "idempotency-key": key,
            "x-livepipe-timestamp": stamp, "x-livepipe-signature": "sha256=" + mac.hexdigest()})
        write(db, "UPDATE sends SET state = 'sent', at = ? WHERE key = ?", time.time(), key)
os.environ["DB"] = db
pool = [threading.Thread(target=work) for _ in range(threads)]
for t in pool:
    t.start()
set_up.wait()
if sys.argv[6:] == ["wait"]:  # set up: the counter is switched on, then a line comes
    print("ready", flush=True)
    sys.stdin.readline()
cpu, wall = time.process_time(), time.perf_counter()
go.set()
for t in pool:
    t.join()
print(time.process_time() - cpu, time.perf_counter() - wall)
"""

DISPATCHER = """
import sys, threading, time
from livepipe.app import Livepipe
from livepipe.dispatch import Dispatcher
from livepipe.fast.gc import settle
stop = threading.Event()
d = Dispatcher(Livepipe.at(sys.argv[1]), threads=int(sys.argv[2]))
threading.Thread(target=d.run, args=(stop,), daemon=True).start()
while getattr(d, "_writes", True) is None or len(d._senders) < d.threads:
    time.sleep(0.05)
settle()  # as `up` does once it has started
print("ready", flush=True)
sys.stdin.read()  # until the benchmark closes it
stop.set()
time.sleep(1)
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sync_seconds(events: int, channels: int) -> float:
    """How long the sync of ``events`` new events takes on this machine now (in-process,
    on a throwaway copy): what the lead before the due time is made from."""
    from livepipe.ledger import open_ledger
    from livepipe.pipeline import sync
    from livepipe.site import Site

    with tempfile.TemporaryDirectory(prefix="lp-trial-") as tmp:
        site = burst_site(Path(tmp) / "site", "http://127.0.0.1:9", channels)
        write_events(site, events, datetime.now(UTC) + timedelta(hours=1))
        loaded = Site.locate(site)
        ledger = open_ledger(loaded.settings)
        started = time.perf_counter()
        sync(loaded, ledger, datetime.now(UTC), out=site / "dist")
        ledger.close()
        return time.perf_counter() - started


def callgrind(out: Path) -> list[str]:
    """The command prefix that runs a program under callgrind, counting nothing until told
    (``counting``): instructions, the same count however busy the machine is."""
    return [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
    ]  # fmt: skip


def counting(pid: int, on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(pid)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def counted(out: Path) -> int:
    """Instructions callgrind counted (its ``totals:`` line)."""
    for line in out.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"{out}: no instruction count")


def dispatch(n: int, channels: int = 4, threads: int = 16, *, instructions: bool = False) -> float:
    """The send path alone: N sends due at one instant, delivered by one Dispatcher (what
    `livepipe up` runs) in its own process, no Prefect; the receiver in this process. Then
    the anchor (plain signed POSTs + three SQLite writes each) to the same receiver, and
    the CPU per send of both, side by side; returns the ratio. ``instructions``: both
    run under callgrind, counting only from just before the burst to its last arrival (the
    anchor: its sends), and the ratio is of instructions per send (user space; system
    calls are not counted), which a busy machine does not change."""
    from livepipe.ledger import open_ledger
    from livepipe.pipeline import sync
    from livepipe.site import Site
    from tests.support.receiver import Stats, serve

    stats = Stats()
    home = Path(tempfile.mkdtemp(prefix="lp-dispatch-"))
    env = {**os.environ, SECRET_ENV: SECRET}
    with serve(stats, secret=SECRET) as base:
        site = burst_site(home / "site", base, channels)
        grind = callgrind(home / "dispatcher.callgrind") if instructions else []
        proc = subprocess.Popen(
            [*grind, sys.executable, "-c", DISPATCHER, str(site), str(threads)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdin is not None
        proc.stdout.readline()  # ready: its threads and connections are made
        took = sync_seconds(n // channels, channels)
        lead = 2 * took + 3.0
        due_at = datetime.now(UTC) + timedelta(seconds=lead)
        write_events(site, n // channels, due_at)
        loaded = Site.locate(site)
        ledger = open_ledger(loaded.settings)
        sync(loaded, ledger, datetime.now(UTC), out=site / "dist")
        ledger.close()
        if datetime.now(UTC) >= due_at:
            print("  the sync ended after the due time: the lateness below includes it")
        due = pending_due(site / "livepipe.toml")
        time.sleep(max(0.0, due_at.timestamp() - time.time() - 0.5))
        if instructions:
            counting(proc.pid, True)
        before = cpu_seconds(proc.pid)
        wait_arrivals(stats, due, due_at.timestamp() + (1200 if instructions else 120), settle=0)
        used = cpu_seconds(proc.pid) - before
        if instructions:
            counting(proc.pid, False)
        time.sleep(2)  # would a second delivery still come?
        proc.stdin.close()
        proc.wait(timeout=300 if instructions else 30)
        print(f"sync of {n // channels} events took {took:.2f} s: sends due {lead:.1f} s after")
        report(f"dispatcher alone, {n // channels} events x {channels} channels", due, stats)
        if instructions:
            return _anchor_instructions(
                n, threads, f"{base}/dedup", home, counted(home / "dispatcher.callgrind")
            )
        with tempfile.TemporaryDirectory(prefix="lp-anchor-") as tmp:
            done = subprocess.run(
                [sys.executable, "-c", ANCHOR, f"{base}/dedup", str(n), str(threads),
                 f"{tmp}/anchor.sqlite", SECRET],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
        anchor_cpu, anchor_wall = map(float, done.stdout.split())
    print(
        f"CPU per send, {threads} threads: dispatcher {used / n * 1000:.2f} ms, anchor (signed "
        f"POST + 3 SQLite writes) {anchor_cpu / n * 1000:.2f} ms: "
        f"{used / anchor_cpu:.2f}x (goal <= 1.2x); anchor's {n} took {anchor_wall:.2f} s",
        flush=True,
    )
    return float(used / anchor_cpu)


def _anchor_instructions(n: int, threads: int, url: str, home: Path, used: int) -> float:
    """The anchor under callgrind, counting its sends only; both counts per send."""
    out = home / "anchor.callgrind"
    proc = subprocess.Popen(
        [*callgrind(out), sys.executable, "-c", ANCHOR, url, str(n), str(threads),
         str(home / "anchor.sqlite"), SECRET, "wait"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    counting(proc.pid, True)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    proc.stdout.readline()  # its sends are done
    counting(proc.pid, False)
    proc.stdin.close()
    proc.wait(timeout=300)
    anchor = counted(out)
    print(
        f"instructions per send, {threads} threads: dispatcher {used / n / 1e6:.2f} M, anchor "
        f"(signed POST + 3 SQLite writes) {anchor / n / 1e6:.2f} M: {used / anchor:.2f}x "
        "(goal <= 1.2x; callgrind: user space only, the same on a busy machine)",
        flush=True,
    )
    return used / anchor


def _wait_healthy(url: str, timeout: float = 180) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not come up")


def burst(n: int, channels: int = 4, scale_out: bool = False, spacing: float = 0.0) -> None:
    """N sends due at one instant to a loopback receiver (signed webhooks): through
    `livepipe up` (its own Prefect server on SQLite, sending in its own threads), or with
    ``scale_out`` through `up --no-publish` + 2 `livepipe worker`s, the Prefect server and
    the ledger on PostgreSQL. Lateness = arrival − due time; duplicates and losses."""
    from tests.support.receiver import Stats, free_port, serve

    port, hook = free_port(), free_port()
    home = Path(tempfile.mkdtemp(prefix="lp-burst-"))
    stats = Stats()
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env[SECRET_ENV] = SECRET
    procs: list[subprocess.Popen[bytes]] = []
    cleanup: list[object] = []
    exe = str(Path(sys.executable).parent / "livepipe")
    ledger_url = None
    if scale_out:
        import uuid

        import psycopg

        from flows.runtime import launch_server

        tag = uuid.uuid4().hex[:10]
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE lp_bench_{tag}")
            conn.execute(f"CREATE SCHEMA lp_bench_{tag}")
        host = PG_URL.split("://", 1)[1].rsplit("/", 1)[0]
        server_env = {
            "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://{host}/lp_bench_{tag}"
        }
        from flows.common import QUIET

        procs.append(launch_server(home / "prefect", port, {**QUIET, **server_env}))
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        ledger_url = f"{PG_URL}?options=-csearch_path%3Dlp_bench_{tag}"
        cleanup.append(tag)
    with serve(stats, secret=SECRET) as base:
        site = burst_site(home / "site", base, channels, ledger_url)
        args = [exe, "up", str(site), "--port", str(port), "--hook-port", str(hook)]
        procs.append(
            subprocess.Popen(
                args + (["--no-publish"] if scale_out else []),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        if scale_out:
            for _ in range(2):
                procs.append(
                    subprocess.Popen(
                        [exe, "worker", str(site), "--threads", "16"],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        try:
            _wait_healthy(f"http://127.0.0.1:{hook}/healthz")
            time.sleep(3)  # the first sync (of an empty site) is done
            lead = 3 * sync_seconds(n // channels, channels) + LEAD
            due_at = datetime.now(UTC) + timedelta(seconds=lead)
            write_events(site, n // channels, due_at, spacing)
            took = merge(site, port, n)
            lead = (due_at - datetime.now(UTC)).total_seconds() + took
            print(
                f"merge → {n} sends in the ledger: {took:.1f} s (sends due {lead:.0f} s after "
                "the merge)",
                flush=True,
            )
            if datetime.now(UTC) >= due_at:
                print("  the sync ended after the due time: the lateness below includes it")
            due = pending_due(site / "livepipe.toml")
            wait_arrivals(stats, due, due_at.timestamp() + 180 + n * spacing)
        finally:
            for proc in reversed(procs):
                proc.send_signal(2)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for tag in cleanup:
                import psycopg

                with psycopg.connect(PG_URL, autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS lp_bench_{tag} WITH (FORCE)")
                    conn.execute(f"DROP SCHEMA IF EXISTS lp_bench_{tag} CASCADE")
    how = "up --no-publish + 2 workers, PostgreSQL" if scale_out else "livepipe up, SQLite"
    what = f"sparse, one every {spacing} s" if spacing else "burst"
    report(f"{what} through {how}, {n // channels} events x {channels} channels", due, stats)


def live(n: int, interval: float) -> None:
    """N events on N bilibili rooms of a loopback stand-in, all inside their watching window,
    watched by `livepipe up` (one watch run per room, in its threads); each room flips to
    live at a random moment. Lateness = the "we're live" notice arriving at the receiver −
    the flip; requests per room per interval from the stand-in's request times."""
    import json
    import random

    from tests.support.receiver import Stats, free_port, serve, serve_app
    from tests.support.streams import Platforms, make_app, watch_settings

    port, hook = free_port(), free_port()
    home = Path(tempfile.mkdtemp(prefix="lp-live-"))
    platforms, stats = Platforms(), Stats()
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    exe = str(Path(sys.executable).parent / "livepipe")
    rooms = [str(1000 + i) for i in range(n)]
    with serve_app(make_app(platforms)) as api_base, serve(stats) as base:
        site = home / "site"
        (site / "content").mkdir(parents=True)
        (site / "livepipe.toml").write_text(
            '[site]\nname = "L"\nbase_url = "https://l.example"\ntimezone = "UTC"\n'
            f'[channels.hook]\ntype = "webhook"\nurl = "{base}/plain"\nunsigned = true\n'
            "[slots.announce]\nenabled = false\n[slots.digest]\nenabled = false\n"
            "[slots.reminder-1d]\nenabled = false\n[slots.starting-soon]\nenabled = false\n"
            '[slots.live]\nchannels = ["hook"]\n' + watch_settings(api_base, f"{interval:g}s")
        )
        start = datetime.now(UTC) + timedelta(minutes=10)
        for i, room in enumerate(rooms):
            platforms.go_offline(platforms.rooms, room)
            (site / "content" / f"e{i}.md").write_text(
                f"---\ntitle: E{i}\nstart: {start.isoformat()}\nlocation: online\n"
                f"live_url: https://live.bilibili.com/{room}\n---\n"
            )
        proc = subprocess.Popen(
            [exe, "up", str(site), "--port", str(port), "--hook-port", str(hook)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_healthy(f"http://127.0.0.1:{hook}/healthz")
            # the pages were there before `up`: its first sync schedules the watches
            deadline = time.time() + 120
            while time.time() < deadline and len(platforms.requests) < n:
                time.sleep(0.2)  # every room is being watched
            watched = time.time()
            rng = random.Random(17)
            flips = sorted((rng.uniform(5, 60), room) for room in rooms)
            flipped: dict[str, float] = {}
            for delay, room in flips:
                time.sleep(max(0.0, watched + delay - time.time()))
                platforms.go_live(platforms.rooms, room, datetime.now(UTC))
                flipped[room] = time.time()
            until = time.time() + interval + 30
            while len(stats.arrived) < n and time.time() < until:
                time.sleep(0.1)
            time.sleep(interval * 2)
            ended = time.time()
        finally:
            proc.send_signal(2)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    late = []
    for key, arrived in stats.arrived.items():
        body = json.loads(stats.bodies[key])
        room = body["event"]["live_url"].rsplit("/", 1)[1]
        late.append(arrived - flipped[room])
    late.sort()
    per_interval = []
    for room in rooms:
        times = [t for t in platforms.times.get(f"bilibili:{room}", []) if watched <= t <= ended]
        span = max(ended - watched, interval)
        per_interval.append(len(times) / (span / interval))
    gaps = [
        b - a
        for room in rooms
        for a, b in zip(
            platforms.times[f"bilibili:{room}"],
            platforms.times[f"bilibili:{room}"][1:],
            strict=False,
        )
    ]
    dupes = sum(c - 1 for c in stats.raw.values() if c > 1)
    if not late:
        print(f"live: {n} rooms, no notice arrived")
        return
    q = statistics.quantiles(late, n=100, method="inclusive") if len(late) > 2 else late * 100
    print(
        f"live through livepipe up, {n} rooms watched every {interval:g} s: notices "
        f"{len(late)}/{n}, duplicates {dupes}; flip → notice p50 {statistics.median(late):.2f} s, "
        f"p99 {q[98]:.2f} s, max {late[-1]:.2f} s (goal p99 ≤ {interval + 2:g} s); requests per "
        f"room per interval: mean {statistics.mean(per_interval):.2f}, max "
        f"{max(per_interval):.2f}; shortest gap between two requests to a room "
        f"{min(gaps):.2f} s",
        flush=True,
    )


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "noop"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else (10000 if what == "noop" else 100)
    if what == "noop":
        noop(size)
    elif what in ("burst", "scale-out"):
        count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
        width = int(sys.argv[3]) if len(sys.argv) > 3 else 4
        burst(count, width, scale_out=what == "scale-out")
    elif what == "sparse":  # one send every 1.2 s through `livepipe up`
        burst(int(sys.argv[2]) if len(sys.argv) > 2 else 100, 1, spacing=1.2)
    elif what == "live":
        live(
            int(sys.argv[2]) if len(sys.argv) > 2 else 20,
            float(sys.argv[3]) if len(sys.argv) > 3 else 5.0,
        )
    elif what == "dispatch":
        # Rounds of dispatcher-then-anchor: each ratio from two runs minutes apart at most
        # (this machine's speed drifts by half within the hour), the median of them.
        rounds = int(os.environ.get("BENCH_ROUNDS", "1"))
        ratios = [dispatch(*(int(a) for a in sys.argv[2:5])) for _ in range(rounds)]
        if rounds > 1:
            shown = " / ".join(f"{r:.2f}" for r in ratios)
            print(f"median over {rounds} rounds: {statistics.median(ratios):.2f}x ({shown})")
    elif what == "dispatch-instructions":  # the same, counted in instructions (one round)
        args = [int(a) for a in sys.argv[2:5]] or [200]
        dispatch(*args, instructions=True)
    else:
        raise SystemExit(__doc__)
