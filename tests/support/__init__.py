"""What tests build on, one way each: a site (``make_site``: livepipe.toml from keyword
tables, pages by name; ``bundled_site``: a copy of the bundled example), a send
(``make_send``), and one stand-in server per remote service, shaped like ``publish/``:

- ``receiver``: a webhook receiver (deduplicating or not, checking signatures)
- ``robots``, ``listmonk``, ``wechat`` (all three on one server: ``apis.make_app``)
- ``streams``: bilibili, YouTube and a generic status URL
- ``hostile``: a raw server that misbehaves (trickles, floods, never answers…)

plus ``ledgers`` (filled ledgers), ``scenario`` (a planning scenario on a clock) and
``serving`` (`livepipe serve` on a copy of the bundled site).
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from livepipe.models import SlotKind
from livepipe.records import Send

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "content"
SHARED = Path(os.environ.get("LIVEPIPE_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus" / "kubesphere-live"
HISTORY = SHARED / "corpus" / "kubesphere-live-history"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, timedelta):
        raise TypeError("write durations as text, e.g. '10m'")
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _toml_tables(prefix: str, table: dict[str, Any]) -> list[str]:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    nested = {k: v for k, v in table.items() if isinstance(v, dict)}
    out = [f"[{prefix}]"] if prefix and (scalars or not nested) else []
    out += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, sub in nested.items():
        out += _toml_tables(f"{prefix}.{key}" if prefix else key, sub)
    return out


def toml(**tables: dict[str, Any]) -> str:
    """livepipe.toml text from keyword tables: ``toml(site={"name": "S"}, slots={"announce":
    {"enabled": False}})``."""
    return "\n".join(_toml_tables("", tables)) + "\n"


def make_site(
    root: Path,
    pages: dict[str, str] | None = None,
    *,
    site: dict[str, Any] | None = None,
    **tables: dict[str, Any],
) -> Path:
    """A site at ``root``: livepipe.toml from ``site`` (merged over a name, a base URL and
    UTC) and the other tables; ``pages`` (name → text) in its content folder."""
    (root / "content").mkdir(parents=True, exist_ok=True)
    head = {"name": "Test", "base_url": "https://live.test", "timezone": "UTC", **(site or {})}
    (root / "livepipe.toml").write_text(toml(site=head, **tables), encoding="utf-8")
    for name, text in (pages or {}).items():
        path = root / "content" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def page(title: str, start: datetime, end: datetime | None = None, **keys: Any) -> str:
    """A native page: title, start (and end), ``location: online`` unless given, more keys."""
    lines = [f"title: {title}", f"start: {start.isoformat()}"]
    if end is not None:
        lines.append(f"end: {end.isoformat()}")
    keys.setdefault("location", "online")
    lines += [f"{k}: {v}" for k, v in keys.items()]
    return "---\n" + "\n".join(lines) + "\n---\n"


def bundled_site(dest: Path) -> Path:
    """A copy of the bundled example site (content/ and livepipe.toml) at ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(CONTENT, dest / "content")
    shutil.copy(ROOT / "livepipe.toml", dest / "livepipe.toml")
    return dest


def make_send(**fields: Any) -> Send:
    """A send with sensible defaults (an announcement to the outbox, due at 2026-12-10 12:00
    UTC, valid for an hour), keyed as the planner keys it; any field can be given."""
    due = fields.pop("due", datetime.fromisoformat("2026-12-10T12:00:00+00:00"))
    values: dict[str, Any] = {
        "key": "",
        "uid": "talk@live.test",
        "slot": "announce",
        "kind": SlotKind.ANNOUNCE,
        "channel": "outbox",
        "occurrence": "once",
        "due": due,
        "valid_until": due + timedelta(hours=1),
        **fields,
    }
    send = Send(**values)
    return send if send.key else send.keyed()


__all__ = [
    "CONTENT",
    "CORPUS",
    "HISTORY",
    "ROOT",
    "SHARED",
    "bundled_site",
    "make_send",
    "make_site",
    "page",
    "toml",
]
