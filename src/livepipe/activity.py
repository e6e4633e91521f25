"""What livepipe did, told once where it happens: ``tell(What.SENT, "…", channel=…)``.

Each happening is a record on the ``livepipe.activity`` logger, so every consumer is a
logging handler: the console of ``up``/``worker``/``watch --follow`` (one line each, in the
site's zone, or JSON lines with ``--log-format json``), Prefect's run logs (``livepipe`` is
one of Prefect's extra loggers: inside a flow or task run the line goes to that run), and
the metrics (metrics.py). Library code never prints.
"""

from __future__ import annotations

import enum
import json
import logging
import sys
from datetime import datetime, tzinfo
from typing import Any, TextIO

LOGGER = logging.getLogger("livepipe.activity")


class What(enum.StrEnum):
    STARTED = "started"
    STOPPING = "stopping"
    SYNC = "sync"
    SYNC_FAILED = "sync-failed"
    SENT = "sent"
    FAILED = "failed"
    RETRYING = "retrying"
    MISSED = "missed"
    UNCERTAIN = "uncertain"
    RECOVERED = "recovered"
    HELD = "held"
    LIVE = "live"
    ENDED = "ended"
    LATE = "late"
    WATCH_ERROR = "watch-error"
    POLL = "poll"  # every stream status request (debug: counted, not printed)
    CONFIG = "config"
    ALERT = "alert"
    UPGRADE = "upgrade"
    IMPORT = "import"  # an imported calendar fetched (or kept, when it could not be)
    IMPORT_FAILED = "import-failed"
    DEPLOY = "deploy"
    DEPLOY_FAILED = "deploy-failed"
    DRIFT = "drift"  # what readers fetch differs from the build


_LEVELS = {
    What.FAILED: logging.ERROR,
    What.UNCERTAIN: logging.ERROR,
    What.CONFIG: logging.ERROR,
    What.SYNC_FAILED: logging.ERROR,
    What.MISSED: logging.WARNING,
    What.RETRYING: logging.WARNING,
    What.WATCH_ERROR: logging.WARNING,
    What.IMPORT_FAILED: logging.WARNING,
    What.DEPLOY_FAILED: logging.ERROR,
    What.DRIFT: logging.WARNING,
    What.HELD: logging.WARNING,
}


def tell(what: What, text: str, **fields: Any) -> None:
    """Say that something happened (``fields``: channel, slot, key, uid, lateness…)."""
    level = logging.DEBUG if what is What.POLL else _LEVELS.get(what, logging.INFO)
    LOGGER.log(level, text, extra={"livepipe": {"what": what, **fields}})


def happening(record: logging.LogRecord) -> dict[str, Any] | None:
    """The fields of a record ``tell`` made (None for other log records)."""
    data = getattr(record, "livepipe", None)
    return data if isinstance(data, dict) else None


class ConsoleFormatter(logging.Formatter):
    """``19:58:02  sent       announce → wecom  云原生可观测性实战 (0.21 s late)`` in the site's
    zone; other livepipe log lines as ``HH:MM:SS  error      the message``."""

    def __init__(self, zone: tzinfo, *, as_json: bool = False) -> None:
        super().__init__()
        self.zone = zone
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, self.zone)
        data = happening(record) or {"what": record.levelname.lower()}
        message = record.getMessage()
        if record.exc_info and not self.as_json and record.levelno >= logging.ERROR:
            message += f" ({record.exc_info[1]!r})"
        if self.as_json:
            out = {"at": when.isoformat(), **data, "message": message}
            return json.dumps(out, ensure_ascii=False, default=str)
        from .text import printable

        return f"{when:%H:%M:%S}  {data['what']!s:<10} {printable(message)}"


def to_console(
    zone: tzinfo, *, as_json: bool = False, stream: TextIO | None = None
) -> logging.Handler:
    """Print livepipe's activity (and its warnings and errors) to ``stream`` (stdout)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(ConsoleFormatter(zone, as_json=as_json))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("livepipe")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False  # printed here once, not again by a root console handler
    return handler
