"""Validation of a preview's files: the independent validators (validate-ics,
validate-feed) where installed, else livepipe's own structural checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Check:
    """One validation result of one file."""

    file: str
    tool: str  # validate-ics / validate-feed / livepipe
    ok: bool
    detail: str = ""


def find_validators(explicit: Path | None = None) -> Path | None:
    """A folder holding validate-ics and validate-feed: --validators, LIVEPIPE_VALIDATORS,
    or the one on PATH."""
    env = os.environ.get("LIVEPIPE_VALIDATORS")
    on_path = shutil.which("validate-ics")
    for folder in (explicit, Path(env) if env else None, Path(on_path).parent if on_path else None):
        if folder is not None and (folder / "validate-ics").is_file():
            return folder
    return None


def _run_validator(folder: Path, tool: str, files: list[Path], root: Path) -> list[Check]:
    proc = subprocess.run(
        [str(folder / tool), "--json", *map(str, files)], capture_output=True, text=True
    )
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        detail = (proc.stderr or proc.stdout).strip()[:300]
        return [Check(str(f.relative_to(root)), tool, False, detail) for f in files]
    out = []
    for f in report["files"]:
        bad = [c for c in f["checks"] if not c["ok"]]
        detail = "; ".join(
            f"{c['name']}: " + ", ".join(x["message"] for x in c.get("findings", [])[:2])
            for c in bad
        )
        passed = ", ".join(c["name"] for c in f["checks"] if c["ok"])
        name = str(Path(f["file"]).resolve().relative_to(root.resolve()))
        out.append(Check(name, tool, bool(f["ok"]), detail or f"passed: {passed}"))
    return out


def own_checks(path: str, data: bytes) -> Check:
    """livepipe's own structural checks, when the independent validators are not installed."""
    try:
        if path.endswith(".ics"):
            from icalendar import Calendar

            lines = data.split(b"\r\n")
            if not data.endswith(b"\r\n") or any(b"\n" in line for line in lines):
                raise ValueError("lines must end with CRLF")
            if any(len(line) > 75 for line in lines):
                raise ValueError("a line is longer than 75 octets")
            events = Calendar.from_ical(data.decode("utf-8")).walk("VEVENT")
            for ev in events:
                missing = [p for p in ("UID", "DTSTAMP", "DTSTART") if p not in ev]
                if missing:
                    raise ValueError(f"a VEVENT has no {', '.join(missing)}")
            return Check(path, "livepipe", True, f"{len(events)} events, RFC 5545")
        if path.endswith(".json"):
            doc = json.loads(data)
            if "version" in doc and not str(doc["version"]).startswith("https://jsonfeed.org/"):
                raise ValueError("not a JSON Feed version URL")
            return Check(path, "livepipe", True, "valid JSON")
        ET.fromstring(data)
        return Check(path, "livepipe", True, "well-formed XML")
    except (ValueError, ET.ParseError) as exc:
        return Check(path, "livepipe", False, str(exc))


def validate(files: dict[str, bytes], validators: Path | None) -> tuple[dict[str, Check], str]:
    if validators is None:
        return {p: own_checks(p, d) for p, d in files.items()}, "livepipe's own checks"
    with tempfile.TemporaryDirectory(prefix="livepipe-validate-") as tmp:
        root = Path(tmp)
        paths: dict[str, Path] = {}
        for rel, data in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            paths[rel] = target
        ics = [p for r, p in paths.items() if r.endswith(".ics")]
        feeds = [p for r, p in paths.items() if not r.endswith(".ics")]
        checks = []
        if ics:
            checks += _run_validator(validators, "validate-ics", ics, root)
        if feeds:
            checks += _run_validator(validators, "validate-feed", feeds, root)
    return {c.file: c for c in checks}, f"validate-ics / validate-feed ({validators})"
