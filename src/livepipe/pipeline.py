"""The sync pipeline, shared by `livepipe sync` and the Prefect sync flow: load every page,
plan against the ledger, record the plan, then build dist/ with the ledger's SEQUENCE numbers
and the tombstones of deleted events."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .activity import What, tell
from .alerts import missed, raise_alert
from .build import BuildResult, Progress, build
from .config import Settings
from .identity import digest as identity_digest
from .ledger import Ledger, ledger_url, open_ledger, sqlite_path
from .models import Severity, SlotKind
from .plan import plan
from .records import LedgerState, Plan
from .site import LoadResult, Site, load
from .version import __version__

if TYPE_CHECKING:
    from .deploy import DeployReport
    from .deploy.verify import Drift

# Ledger kv: the content fingerprint of the last sync (the sync flow does nothing while it
# matches); deleted when something the build shows changes outside the pages.
SYNC_STAMP = "sync:fingerprint"


@dataclass(frozen=True)
class SyncResult:
    load: LoadResult
    plan: Plan
    build: BuildResult | None


def sync(
    site: Site,
    ledger: Ledger,
    now: datetime,
    *,
    out: Path | None,
    apply: bool = True,
    loaded: LoadResult | None = None,
    release: bool = False,
) -> SyncResult:
    """Load, plan against the ledger, record the plan, build; tell what changed. After an
    upgrade of livepipe, sends that only the new version's rules want (for events whose
    content did not change) are recorded *held* and listed, unless ``release`` (``sync
    --yes``) or ``[ledger] upgrade_sends = "send"``."""
    started = time.monotonic()
    if loaded is None and site.settings.imports:
        from .imports import refresh_imports

        refresh_imports(site.settings, now)  # imported calendars, when due (never fatal)
    result = loaded or load(site)
    state = ledger.state()
    the_plan = plan(result.events, state, site.settings, now, failed_sources=result.failed)
    if apply:
        release = release or site.settings.ledger.upgrade_sends == "send"
        upgraded = _upgraded(ledger, state, now)
        if upgraded and not release:
            the_plan.held = _new_rules(the_plan, state)
        ledger.apply(the_plan)
        ledger.kv_put(VERSION_KEY, __version__, None)
        _tell(site, ledger, the_plan, result, now, time.monotonic() - started)
    built = build_from_ledger(result, out, ledger, now) if out is not None else None
    if built is not None and out is not None and apply and site.settings.deploy:
        publish_build(site.settings, out, ledger, now, after_sync=True)
    return SyncResult(result, the_plan, built)


def publish_build(
    settings: Settings,
    dist: Path,
    ledger: Ledger | None,
    now: datetime,
    *,
    names: list[str] | None = None,
    after_sync: bool = False,
) -> tuple[list[DeployReport], list[Drift], list[str]]:
    """Deploy ``dist`` to the site's targets and read back what readers get: (the deploys,
    the drift found, the failures). Never raises: a failure or a drift is told, kept in
    the ledger for /metrics, and an alert when the site has an alerts channel."""
    from .deploy import DeployError, deploy
    from .deploy.verify import verify

    failures: list[str] = []
    reports: list[DeployReport] = []
    try:
        reports = deploy(settings, dist, names, after_sync=after_sync)
    except DeployError as exc:
        failures.append(str(exc))
        tell(What.DEPLOY_FAILED, str(exc))
        if ledger is not None:
            raise_alert(ledger, settings, f"deploy:{exc}", "A deploy failed", str(exc), now)
    for report in reports:
        tell(What.DEPLOY, report.line(), target=report.target, written=len(report.written))
    done = [r.target for r in reports]
    drifts = verify(settings, dist, done) if done else []
    for drift in drifts:
        headline = f"{drift.target}: {len(drift.found)} differences at {drift.url}"
        title = f"{drift.target} serves an old or edited copy"
        _drifted(settings, ledger, now, drift.target, drift.lines(), headline, title)
    return reports, drifts, failures


DRIFT_PREFIX = "drift:"  # ledger kv: differences found at each target's public URL
READ_BACK_FOR = timedelta(days=30)  # WeChat sends this recent are read back


def read_back_wechat(settings: Settings, ledger: Ledger, now: datetime) -> list[str]:
    """The WeChat sends of the last 30 days as followers get them now (a mass-send that did
    not arrive, an article deleted or retitled in the editor): one line per difference;
    told, alerted and kept for /metrics like a deploy's drift."""
    from .errors import PublishError
    from .publish import make_channels
    from .publish.wechat import WeChatChannel
    from .records import SendState
    from .render.html import truncate
    from .render.wechat import TITLE_MAX

    channels = {
        name: c for name, c in make_channels(settings, kv=ledger).items()
        if isinstance(c, WeChatChannel)
    }  # fmt: skip
    lines: list[str] = []
    for send in ledger.sends(SendState.SENT):
        channel = channels.get(send.channel)
        if channel is None or not send.remote_id or send.sent_at is None:
            continue
        if now - send.sent_at > READ_BACK_FOR:
            continue
        event = ledger.event(send.uid)
        title = truncate(event.title, TITLE_MAX) if event is not None else ""
        try:
            found = channel.read_back(send.remote_id, title)
        except PublishError as exc:
            found = [f"could not be read back: {exc}"]
        lines += [f"{send.channel} {send.key_slot} {send.uid}: {line}" for line in found]
    headline = f"wechat: {len(lines)} differences"
    _drifted(settings, ledger, now, "wechat", lines, headline,
             "WeChat shows something else than was sent")  # fmt: skip
    return lines


def _drifted(
    settings: Settings,
    ledger: Ledger | None,
    now: datetime,
    target: str,
    lines: list[str],
    headline: str,
    title: str,
) -> None:
    """What a read-back found at ``target``: its count kept for /metrics, and when there
    is any, told (``headline`` and each line) and an alert (once per distinct finding)."""
    if ledger is not None:
        ledger.kv_put(f"{DRIFT_PREFIX}{target}", str(len(lines)), None)
    if not lines:
        return
    text = "\n".join(lines)
    tell(What.DRIFT, f"{headline}\n{text}")
    if ledger is not None:
        raise_alert(ledger, settings, f"drift:{target}:{identity_digest(text)}", title, text, now)


VERSION_KEY = "livepipe:version"  # ledger kv: the livepipe that last synced it


def _upgraded(ledger: Ledger, state: LedgerState, now: datetime) -> str | None:
    """The version that synced the ledger last when it is not this one (a new ledger is
    stamped with the version that made it); None otherwise."""
    last = ledger.kv_get(VERSION_KEY, now)
    if last == __version__ or not state.events:
        return None
    return last or "a version before 0.2"


def _new_rules(the_plan: Plan, state: LedgerState) -> set[str]:
    """Keys of new sends for events that were known before and did not change: only the
    new version's rules want them."""
    changed = {
        r.uid
        for r in the_plan.events
        if r.uid in state.events and state.events[r.uid].revision != r.revision
    }
    known = set(state.events) - changed
    return {
        s.key
        for s in the_plan.add
        if s.uid in known and s.kind not in (SlotKind.LIVE, SlotKind.LATE)
    }


def _tell(
    site: Site, ledger: Ledger, the_plan: Plan, result: LoadResult, now: datetime, took: float
) -> None:
    """One line for the sync; one per missed or held send; alerts for missed sends and for
    page errors."""
    settings = site.settings
    changed = Counter(str(c.what) for c in the_plan.changes)
    what = ", ".join(f"{n} {kind}" for kind, n in sorted(changed.items())) or "nothing changed"
    tell(
        What.SYNC,
        f"{len(result.events)} events ({what}); {len(the_plan.add)} sends planned, "
        f"{len(the_plan.withdraw)} withdrawn, {len(the_plan.missed)} missed; "
        f"{result.errors} page errors ({took:.2f} s)",
        events=len(result.events),
        added=len(the_plan.add),
        withdrawn=len(the_plan.withdraw),
        missed=len(the_plan.missed),
        errors=result.errors,
        seconds=took,
    )
    for rec in the_plan.missed:
        missed(ledger, settings, rec, now)
    for key in sorted(the_plan.held):
        tell(
            What.HELD,
            f"{key}: held after the upgrade; `livepipe resend {key}` sends it, "
            "`livepipe sync --yes` sends all",
            key=key,
        )
    errors = [p for p in result.problems if p.severity is Severity.ERROR]
    if errors:
        digest = identity_digest(*(f"{p.path}:{p.line}:{p.code}" for p in errors))
        raise_alert(
            ledger,
            settings,
            f"sync-errors:{digest}",
            f"livepipe: {len(errors)} page errors after a merge",
            "\n".join(p.format() for p in errors[:20])
            + ("\n…" if len(errors) > 20 else "")
            + "\n\nthese pages are left out until fixed; their planned sends are kept",
            now,
        )


def existing_ledger(settings: Settings, override: str | None = None) -> Ledger | None:
    """The site's ledger when there is one (a SQLite file not made yet is None: nothing is
    created by reading)."""
    path = sqlite_path(settings, ledger_url(settings, override))
    if path is not None and not path.exists():
        return None
    return open_ledger(settings, override)


def build_site(
    result: LoadResult,
    out: Path,
    now: datetime,
    *,
    ledger: str | None = None,
    progress: Progress | None = None,
    only: tuple[str, ...] = (),
) -> BuildResult:
    """`build` and `serve`: with the ledger when the site has one, so their files equal the
    sync's (SEQUENCE numbers, tombstones, change times, found replays); else from the pages."""
    store = existing_ledger(result.site.settings, ledger)
    if store is None:
        return build(result, out, progress=progress, only=only)
    try:
        return build_from_ledger(result, out, store, now, progress=progress, only=only)
    finally:
        store.close()


def build_from_ledger(
    result: LoadResult,
    out: Path,
    ledger: Ledger,
    now: datetime,
    *,
    progress: Progress | None = None,
    only: tuple[str, ...] = (),
) -> BuildResult:
    """Build with what the ledger knows: SEQUENCE numbers, the tombstones of deleted events,
    when each last changed, and the replay URLs the stream watcher found for pages that
    give none."""
    replays = ledger.replays()
    if replays:
        events = tuple(
            replace(e, replay_url=replays[e.uid]) if e.uid in replays and not e.replay_url else e
            for e in result.events
        )
        result = replace(result, events=events)
    return build(
        result,
        out,
        sequence=ledger.sequences(),
        tombstones=ledger.tombstones(now, result.site.settings.ledger.tombstone_days),
        changed=ledger.significant_changes(),
        now=now,
        progress=progress,
        only=only,
    )
