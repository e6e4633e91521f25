"""What a pull request changes: the pages that differ from a git ref, the content as it was
there, and the plan of the merge against the state the base left."""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ..errors import ConfigError
from ..gitsource import git
from ..ledger.sqlite import SqliteLedger
from ..plan import Change, plan
from ..records import SendState
from ..site import LoadResult, Site, load
from ..timeline import TimelineRow, timeline


def _repo(content_root: Path) -> tuple[Path, str]:
    """(the repository's top folder, the content folder relative to it)."""
    try:
        top = Path(git(content_root, "rev-parse", "--show-toplevel").decode().strip())
    except ConfigError:
        raise ConfigError(
            f"{content_root} is not in a git repository: --base needs one "
            "(leave --base out to preview every page)"
        ) from None
    rel = content_root.resolve().relative_to(top.resolve()).as_posix()
    return top, "." if rel == "." else rel


def changed_files(site: Site, base: str) -> tuple[set[str], list[str]]:
    """(pages, relative to the content folder, that differ between ``base`` and the working
    tree: committed, staged, unstaged and untracked changes, deletions included;
    the site's settings and template files that changed, relative to the repository)."""
    top, rel = _repo(site.content_root)
    try:
        git(top, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except ConfigError:
        raise ConfigError(
            f"--base {base!r} is not a commit of {top}; "
            "fetch it first (in CI: actions/checkout with fetch-depth: 0)"
        ) from None
    diff = git(top, "diff", "--name-only", "-z", "--no-renames", base)
    new = git(top, "ls-files", "--others", "--exclude-standard", "-z")
    names = {n for n in (diff + new).decode("utf-8").split("\0") if n}
    prefix = "" if rel == "." else rel + "/"
    pages = {n.removeprefix(prefix) for n in names if n.startswith(prefix)}
    root = site.settings.root
    site_files: list[str] = []
    if root is not None:
        at = root.resolve().relative_to(top.resolve()).as_posix()
        own = "" if at == "." else at + "/"
        site_files = sorted(
            n for n in names if n == f"{own}livepipe.toml" or n.startswith(f"{own}templates/")
        )
    return pages, site_files


@contextmanager
def content_at(content_root: Path, base: str) -> Iterator[Path | None]:
    """The content folder as it was at ``base``, in a temporary folder (None: it did not
    exist then)."""
    top, rel = _repo(content_root)
    with tempfile.TemporaryDirectory(prefix="livepipe-base-") as tmp:
        try:
            data = git(top, "archive", "--format=tar", base, "--", rel)
        except ConfigError:
            yield None
            return
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(tmp, filter="data")
        folder = Path(tmp) / rel
        yield folder if folder.is_dir() else None


def load_base(site: Site, base: str) -> LoadResult | None:
    with content_at(site.content_root, base) as folder:
        if folder is None:
            return None
        # A throwaway folder: its pages must not replace the site's own page cache.
        return load(Site(site.settings, folder, (folder,)), workers=1, cache=False)


# ----------------------------------------------------------------------------------------------
# The send timeline: base state (what is live), then the working tree against it


def simulate(
    base: LoadResult | None, head: LoadResult, now: datetime
) -> tuple[list[Change], list[TimelineRow]]:
    """What planning ``head`` would change, and the send timeline, against the state the base
    left (everything due by ``now`` assumed sent)."""
    settings = head.site.settings
    with tempfile.TemporaryDirectory(prefix="livepipe-preview-") as tmp:
        ledger = SqliteLedger(Path(tmp) / "ledger.sqlite")
        try:
            ledger.migrate()
            if base is not None:
                ledger.apply(plan(base.events, ledger.state(), settings, now))
                for send in ledger.sends(SendState.PENDING):  # what was due has gone out
                    if send.due <= now and ledger.claim(send.key, now, "preview"):
                        ledger.mark_sent(send.key, "preview", now, note="assumed by preview")
            state = ledger.state()
        finally:
            ledger.close()
    head_plan = plan(head.events, state, settings, now, failed_sources=head.failed)
    return head_plan.changes, timeline(state, head_plan)
