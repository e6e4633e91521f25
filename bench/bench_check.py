"""Benchmark `livepipe check`: pages/s and peak memory at 1k and 10k synthetic pages, and
how long a command takes to start (`--help`, `check` of the 9 bundled pages) against
`python -c pass`, wall-clock, median of 15 runs.

    python bench/bench_check.py [N ...]      (default: 1000 10000)
    python bench/bench_check.py startup

Each size runs in a fresh single-threaded child process (so peak RSS is that run's own), three
times; the best time is reported. Goal (issue 3): 10k pages in under 5 s on one core.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from synth import generate  # noqa: E402

CHILD = """
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from livepipe.site import Site, load
t1 = time.perf_counter()
result = load(Site.locate(Path(sys.argv[1])))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "events": len(result.events),
                  "errors": result.errors,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_once(site: Path) -> dict[str, float]:
    env_cmd = ["taskset", "-c", "0"] if _has_taskset() else []
    out = subprocess.run(
        [*env_cmd, sys.executable, "-c", CHILD, str(site)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def _has_taskset() -> bool:
    return subprocess.run(["which", "taskset"], capture_output=True).returncode == 0


def main(sizes: list[int]) -> None:
    print(f"{'pages':>7} {'load s':>8} {'pages/s':>9} {'import s':>9} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            site = generate(Path(tmp) / f"site-{n}", n)
            runs = [run_once(site) for _ in range(3)]
            best = min(runs, key=lambda r: r["load_s"])
            assert best["events"] == n and best["errors"] == 0, best
            print(
                f"{n:>7} {best['load_s']:>8.2f} {n / best['load_s']:>9.0f} "
                f"{best['import_s']:>9.2f} {max(r['peak_mb'] for r in runs):>8.0f}"
            )


def startup(runs: int = 15) -> None:
    import statistics
    import time

    exe = str(Path(sys.executable).parent / "livepipe")
    content = str(HERE.parent / "content")
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "livepipe --help": [exe, "--help"],
        "livepipe check content/ (9 pages)": [exe, "check", content],
    }
    for label, command in cases.items():
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(command, capture_output=True, check=False)
            times.append(time.perf_counter() - t)
        print(f"{label:36} median {statistics.median(times):.3f} s, best {min(times):.3f} s")


if __name__ == "__main__":
    if sys.argv[1:] == ["startup"]:
        startup()
    else:
        main([int(a) for a in sys.argv[1:]] or [1000, 10000])
