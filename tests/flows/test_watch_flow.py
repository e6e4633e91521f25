"""Watching as Prefect runs, end to end through a real `livepipe up`: it schedules one watch
run for the room when a sync finds a livestream about to start, runs it in a thread, and the
"we're live" notice reaches a loopback receiver seconds after the bilibili stand-in flips.
Then `up` is SIGKILLed mid-window; the restarted `up` marks the dead run Crashed and starts a
fresh one at once, and the stream that flapped meanwhile sends no second notice.

And the KubeSphere evening: three talks in one room, each notice at its own start."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ..support.receiver import Stats, serve, serve_app, wait_for
from ..support.streams import Platforms, live_site, make_app, watch_settings
from .conftest import UpSite, flow_runs

pytestmark = pytest.mark.timeout(400)
ROOM = "22580654"


def test_up_watches_the_stream_and_survives_a_crash(tmp_path: Path, prefect_server: str) -> None:
    platforms = Platforms()
    stats = Stats()
    with serve_app(make_app(platforms)) as base, serve(stats) as receiver:
        root = live_site(
            tmp_path / "site", base, receiver, "2s", room=ROOM, starts_in=timedelta(minutes=5)
        )
        platforms.go_offline(platforms.rooms, ROOM)
        site = UpSite(root, stats, receiver + "/plain")
        site.start()
        try:
            room = f"bilibili:{ROOM}"
            assert wait_for(lambda: platforms.requests[room] >= 2, 120), site.log[-3000:]
            mine = lambda: [r for r in flow_runs("watch") if ROOM in r.name]  # noqa: E731
            [run] = mine()
            assert run.name.startswith(f"watch-bilibili-{ROOM}-")
            assert run.state is not None and run.state.is_running()
            platforms.go_live(platforms.rooms, ROOM, datetime.now(UTC))
            flipped = time.time()
            assert wait_for(lambda: sum(stats.raw.values()) >= 1, 30), site.log[-3000:]
            [(key, arrived)] = stats.arrived.items()
            # within a few intervals (the figure, p99 ≤ interval + 2 s, is bench_flows live's)
            assert arrived - flipped <= 3 * 2 + 5
            body = json.loads(stats.bodies[key])
            assert body["slot"] == "live" and body["title"] == "We're live now: Talk"
            assert f"live       {room}: Talk went live" in site.log
            # Crash: the whole `up` dies mid-window.
            assert site.proc is not None
            site.proc.send_signal(signal.SIGKILL)
            site.proc.wait(timeout=30)
            site.proc = None
            platforms.go_offline(platforms.rooms, ROOM)  # the stream flaps meanwhile …
            time.sleep(1)
            platforms.go_live(platforms.rooms, ROOM, datetime.now(UTC))  # … and is back
            asked = platforms.requests[room]
            site.start()
            restarted = time.monotonic()
            # The restarted up finds the room unwatched (its lock's holder is dead) and
            # watches again within a few intervals of its start, not after a minute.
            assert wait_for(lambda: platforms.requests[room] >= asked + 1, 60), site.log[-3000:]
            assert time.monotonic() - restarted < 3 * 2 + 10
            runs = mine()
            states = sorted(str(r.state.type.value) for r in runs if r.state)
            assert states == ["CRASHED", "RUNNING"], states
            assert len({r.name for r in runs}) == 1  # the same session, a second attempt
            time.sleep(5)
            assert sum(stats.raw.values()) == 1  # one live notice, across the crash and flap
        finally:
            site.stop()


def test_one_room_evening_through_up(tmp_path: Path, prefect_server: str) -> None:
    """Three talks in one bilibili room, 6 s each, 10 s apart, watched from 20 s before
    each start, every second. The stream goes live a second after each start and off after
    each end: each talk gets its own notice at its own start, none early, none twice."""
    platforms = Platforms()
    stats = Stats()
    room = "7777"
    with serve_app(make_app(platforms)) as base, serve(stats) as receiver:
        root = tmp_path / "site"
        (root / "content").mkdir(parents=True)
        (root / "livepipe.toml").write_text(
            '[site]\nname = "Evening"\nbase_url = "https://evening.test"\ntimezone = "UTC"\n'
            "[slots.digest]\nenabled = false\n[slots.announce]\nenabled = false\n"
            "[slots.reminder-1d]\nenabled = false\n[slots.starting-soon]\nenabled = false\n"
            f'[channels.hook]\ntype = "webhook"\nurl = "{receiver}/plain"\nunsigned = true\n'
            '[slots.live]\nchannels = ["hook"]\n'
            + watch_settings(base, "1s").replace(
                "[watch]\n", '[watch]\nbefore = "20s"\nafter = "3s"\n', 1
            ),
            encoding="utf-8",
        )
        platforms.go_offline(platforms.rooms, room)
        site = UpSite(root, stats, receiver + "/plain")
        site.start()  # the pages come after `up` is up: its start-up is not the test's clock
        first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
        starts = {n: first + timedelta(seconds=10 * i) for i, n in enumerate(("a", "b", "c"))}
        for name, start in starts.items():
            (root / "content" / f"{name}.md").write_text(
                f"---\ntitle: Talk {name}\nstart: {start.isoformat()}\n"
                f"end: {(start + timedelta(seconds=6)).isoformat()}\nlocation: online\n"
                f"live_url: https://live.bilibili.com/{room}\n---\n",
                encoding="utf-8",
            )
        try:
            site.merged()
            for start in starts.values():
                while datetime.now(UTC) < start + timedelta(seconds=1):
                    time.sleep(0.1)
                platforms.go_live(platforms.rooms, room, datetime.now(UTC))
                while datetime.now(UTC) < start + timedelta(seconds=6):
                    time.sleep(0.1)
                platforms.go_offline(platforms.rooms, room)
            assert wait_for(lambda: len(stats.raw) >= 3, 30), site.log[-3000:]
            time.sleep(3)
        finally:
            site.stop()
    got = {json.loads(stats.bodies[k])["event"]["title"]: stats.arrived[k] for k in stats.bodies}
    assert set(got) == {"Talk a", "Talk b", "Talk c"}, site.log[-3000:]
    for name, start in starts.items():
        late = got[f"Talk {name}"] - start.timestamp()
        # at its own start (+ the flip and an interval; before the next talk, 10 s on)
        assert 1 <= late <= 8, (name, late)
    assert sum(stats.raw.values()) == 3  # none twice
