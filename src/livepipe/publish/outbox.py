"""The file outbox: each message becomes ``<outbox>/<channel>/<key>.json`` (the embedded
default and the dry-run target). Writing the same key again rewrites the same file, so the
outbox deduplicates by key like an idempotent API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from ..errors import ConfigError, TransientPublishError
from ..models import Message
from ..writer import write_file
from .base import Channel, Receipt


class OutboxChannel(Channel):
    type: ClassVar[str] = "outbox"
    accepts_idempotency_key: ClassVar[bool] = True

    def validate(self) -> None:
        super().validate()
        from ..sitefiles import inside

        base = str(self.option("path", ".livepipe/outbox"))
        if not inside(self.root, base):
            raise ConfigError(
                f"channels.{self.name}: path {base!r} leaves the site's folder",
                hint="give a folder inside the folder of livepipe.toml",
            )

    @property
    def folder(self) -> Path:
        base = Path(str(self.option("path", ".livepipe/outbox")))
        return (base if base.is_absolute() else self.root / base) / self.name

    def send(self, message: Message) -> Receipt:
        path = self.folder / f"{message.key}.json"
        data = json.dumps(message.to_json(), ensure_ascii=False, indent=2) + "\n"
        try:
            write_file(path, data.encode("utf-8"))
        except OSError as exc:  # a full disk: try again later, inside the window
            raise TransientPublishError(
                f"cannot write the outbox file: {exc.strerror or exc}",
                channel=self.name,
                code="io",
            ) from None
        return Receipt(remote_id=message.key, remote_url=path.as_uri())
