"""A site on disk, a ledger and a controlled clock: the harness of the plan scenarios."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from livepipe.config import load_settings
from livepipe.ledger import Ledger, open_ledger
from livepipe.pipeline import SyncResult, sync
from livepipe.publish import make_channels
from livepipe.records import SendRecord, SendState
from livepipe.send import Outcome, Sender
from livepipe.site import Site

CONFIG = """
[site]
name = "KubeSphere 云原生直播间"
base_url = "https://kubesphere.io"
timezone = "Asia/Shanghai"
default_language = "zh"

[slots.digest]
enabled = false
"""


class Scenario:
    def __init__(self, root: Path, ledger_url: str, config: str = CONFIG) -> None:
        self.root = root
        (root / "content" / "zh" / "live").mkdir(parents=True, exist_ok=True)
        (root / "livepipe.toml").write_text(config, encoding="utf-8")
        self.settings = load_settings(root / "livepipe.toml")
        self.ledger: Ledger = open_ledger(self.settings, ledger_url)
        self.outbox = root / ".livepipe" / "outbox" / "outbox"

    def page(self, name: str) -> Path:
        return self.root / "content" / "zh" / "live" / name

    def write(self, name: str, text: str) -> None:
        self.page(name).write_text(text, encoding="utf-8")

    def copy(self, source: Path, name: str | None = None) -> str:
        target = self.page(name or source.name)
        shutil.copy(source, target)
        return target.name

    def edit(self, name: str, old: str, new: str) -> None:
        text = self.page(name).read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {name}"
        self.write(name, text.replace(old, new))

    def delete(self, name: str) -> None:
        self.page(name).unlink()

    def sync(self, now: datetime) -> SyncResult:
        return sync(Site.locate(self.root), self.ledger, now, out=self.root / "dist")

    def send_due(self, now: datetime) -> list[Outcome]:
        sender = Sender(self.ledger, self.settings, make_channels(self.settings), clock=lambda: now)
        return sender.send_due()

    def sends(self, *states: SendState) -> list[SendRecord]:
        return self.ledger.sends(*states)

    def by_slot(self, *states: SendState) -> dict[str, list[SendRecord]]:
        out: dict[str, list[SendRecord]] = {}
        for s in self.sends(*states):
            out.setdefault(s.slot, []).append(s)
        return out

    def delivered(self) -> list[dict]:
        if not self.outbox.is_dir():
            return []
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(self.outbox.iterdir())]

    def close(self) -> None:
        self.ledger.close()
