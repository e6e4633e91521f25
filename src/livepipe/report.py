"""Markdown summaries for Prefect artifacts and CI step summaries."""

from __future__ import annotations

from .models import Severity
from .pipeline import SyncResult


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def sync_markdown(result: SyncResult, limit: int = 50) -> str:
    load, plan = result.load, result.plan
    lines = [
        f"# livepipe sync at {plan.now.isoformat()}",
        "",
        f"{load.pages} pages: {len(load.events)} events, {load.errors} errors, "
        f"{load.warnings} warnings. Sends: {len(plan.add)} added, {len(plan.withdraw)} "
        f"withdrawn, {len(plan.missed)} missed.",
    ]
    if plan.changes:
        lines += ["", "## Events", "", "| change | event | detail |", "|---|---|---|"]
        lines += [f"| {c.what} | {_cell(c.uid)} | {_cell(c.detail)} |" for c in plan.changes]
    problems = [p for p in load.problems if p.severity is not Severity.INFO]
    if problems:
        lines += [
            "",
            "## Problems",
            "",
            "| where | severity | code | message |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(p.path)}:{p.line} | {p.severity} | {p.code} | {_cell(p.message)} |"
            for p in problems[:limit]
        ]
    if plan.add or plan.withdraw:
        lines += [
            "",
            "## Send timeline (changes)",
            "",
            "| due (UTC) | slot | channel | event | what |",
            "|---|---|---|---|---|",
        ]
        rows = [(s.due, s.slot, s.channel, s.uid, "added") for s in plan.add]
        rows += [
            (r.due, r.slot, r.channel, r.uid, f"withdrawn ({why})") for r, why in plan.withdraw
        ]
        for due, slot, channel, uid, what in sorted(rows)[:limit]:
            lines.append(f"| {due.isoformat()} | {slot} | {channel} | {_cell(uid)} | {what} |")
    return "\n".join(lines)
