"""Benchmarks for the Prefect side.

    python bench/bench_flows.py noop [N]          # cost of a no-op sync at N pages (10000)
    python bench/bench_flows.py lateness [N]      # due → delivery lateness over N sends (100),
                                                  # default polling vs tuned, on a real server
    python bench/bench_flows.py burst [N]         # N sends due at the same instant (200),
                                                  # through `livepipe up` (its own server)

Goals (issue 6): no-op sync < 0.5 s at 10k pages excluding Prefect start-up; p99 lateness
≤ 2 s with tuned polling.
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


CONFIGS = {
    "default": "limit=20",
    "tuned": "limit=20, prefetch_seconds=60, query_seconds=1",
}


def lateness(n: int, only: str | None = None) -> None:
    """Schedules n sends 1.2 s apart through a served publish deployment and measures when
    the loopback receiver gets each one, once with Prefect's default polling and once tuned
    (each in its own process: Prefect caches its settings per process)."""
    if only is None:
        for label in CONFIGS:
            subprocess.run([sys.executable, __file__, "lateness", str(n), label], check=True)
        return
    from tests.receiver import Stats, free_port, serve

    for label, serve_args in ((only, CONFIGS[only]),):
        port = free_port()
        home = Path(tempfile.mkdtemp(prefix="lp-bench-"))
        env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        os.environ.update(env)
        from flows.serve import launch_server

        server = launch_server(home, port, env)
        stats = Stats()
        arrivals: dict[str, float] = {}
        with serve(stats) as base:
            site = home / "site"
            (site / "content").mkdir(parents=True)
            (site / "livepipe.toml").write_text(
                '[site]\nname = "L"\nbase_url = "https://l.example"\ntimezone = "UTC"\n'
                f'[ledger]\nurl = "{site}/ledger.sqlite"\n'
                f'[channels.hook]\ntype = "webhook"\nurl = "{base}/dedup"\nunsigned = true\n'
                "[slots.announce]\nenabled = false\n[slots.digest]\nenabled = false\n"
                '[slots.reminder-1d]\nchannels = ["hook"]\n'
                '[slots.starting-soon]\nchannels = ["hook"]\n'
            )
            code = (
                f"import prefect\nfrom flows.serve import deployments\n"
                f"prefect.serve(*deployments({str(site)!r}, 3600, 3600), {serve_args}, "
                "print_starting_message=False)"
            )
            runner = subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(8)
            first_due = datetime.now(UTC) + timedelta(seconds=40)
            for i in range(n):
                start = first_due + timedelta(seconds=1.2 * i, minutes=10)
                (site / "content" / f"e{i}.md").write_text(
                    f"---\ntitle: E{i}\nstart: {start.isoformat()}\nlocation: online\n"
                    "livepipe:\n  reminders: [-10m]\n---\n"
                )
            from flows.sync import sync

            sync(path=str(site), out=str(site / "dist"), force=True)
            from livepipe.config import load_settings
            from livepipe.ledger import open_ledger

            ledger = open_ledger(load_settings(site / "livepipe.toml"))
            due = {s.key: s.due for s in ledger.sends()}
            ledger.close()
            deadline = time.time() + 1.2 * n + 120
            while len(arrivals) < len(due) and time.time() < deadline:
                for key in list(stats.processed):
                    arrivals.setdefault(key, time.time())
                time.sleep(0.05)
            runner.terminate()
            runner.wait(timeout=30)
        server.terminate()
        server.wait(timeout=30)
        late = sorted(arrivals[k] - due[k].timestamp() for k in arrivals)
        q = statistics.quantiles(late, n=100) if len(late) > 2 else late
        print(
            f"{label:8} sends {len(due)}, delivered {len(late)}: lateness p50 "
            f"{statistics.median(late):.2f} s, p95 {q[94]:.2f} s, p99 {q[98]:.2f} s, "
            f"max {late[-1]:.2f} s"
        )


def burst(n: int) -> None:
    """N sends due at one instant, delivered by `livepipe up` (its own Prefect server on
    SQLite, publish runs in its threads) to a loopback webhook receiver: lateness of each
    arrival after the due time, duplicates and losses."""
    from tests.receiver import Stats, free_port, serve

    port, hook = free_port(), free_port()
    home = Path(tempfile.mkdtemp(prefix="lp-burst-"))
    stats = Stats()
    arrivals: dict[str, float] = {}
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    with serve(stats) as base:
        site = home / "site"
        (site / "content").mkdir(parents=True)
        (site / "livepipe.toml").write_text(
            '[site]\nname = "B"\nbase_url = "https://b.example"\ntimezone = "UTC"\n'
            f'[channels.hook]\ntype = "webhook"\nurl = "{base}/dedup"\nunsigned = true\n'
            "[slots.announce]\nenabled = false\n[slots.digest]\nenabled = false\n"
            '[slots.reminder-1d]\nenabled = false\n[slots.starting-soon]\nchannels = ["hook"]\n'
        )
        exe = str(Path(sys.executable).parent / "livepipe")
        up = subprocess.Popen(
            [exe, "up", str(site), "--port", str(port), "--hook-port", str(hook)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            import httpx

            deadline = time.time() + 180
            while time.time() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{hook}/healthz", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            time.sleep(5)  # deployments served
            due_at = datetime.now(UTC) + timedelta(seconds=max(90, n * 0.4))  # after the sync
            for i in range(n):
                (site / "content" / f"e{i}.md").write_text(
                    f"---\ntitle: E{i}\nstart: {(due_at + timedelta(minutes=10)).isoformat()}\n"
                    "location: online\n---\n"
                )
            os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
            from flows.sync import sync

            started = time.time()
            sync(path=str(site), out=str(site / "dist"), force=True)
            print(f"sync of {n} events with {n} publish runs: {time.time() - started:.1f} s")
            from livepipe.config import load_settings
            from livepipe.ledger import open_ledger

            ledger = open_ledger(load_settings(site / "livepipe.toml"))
            due = {s.key: s.due for s in ledger.sends()}
            ledger.close()
            deadline = due_at.timestamp() + 180
            while len(arrivals) < len(due) and time.time() < deadline:
                for key in list(stats.processed):
                    arrivals.setdefault(key, time.time())
                time.sleep(0.02)
        finally:
            up.send_signal(2)
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
    late = sorted(arrivals[k] - due[k].timestamp() for k in arrivals)
    q = statistics.quantiles(late, n=100) if len(late) > 2 else late
    dupes = sum(c - 1 for c in stats.raw.values() if c > 1)
    print(
        f"burst   sends {len(due)}, delivered {len(late)}, lost {len(due) - len(late)}, "
        f"duplicates {dupes}: lateness p50 {statistics.median(late):.2f} s, "
        f"p95 {q[94]:.2f} s, p99 {q[98]:.2f} s, max {late[-1]:.2f} s"
    )


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "noop"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else (10000 if what == "noop" else 100)
    if what == "noop":
        noop(size)
    elif what == "burst":
        burst(int(sys.argv[2]) if len(sys.argv) > 2 else 200)
    else:
        lateness(size, sys.argv[3] if len(sys.argv) > 3 else None)
