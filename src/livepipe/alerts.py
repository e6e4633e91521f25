"""Alerts to the operators' channel (``[alerts] channel``): made where something goes wrong
(a failed, uncertain or missed send, a stream watcher failing polls in a row, a sync that
found page errors, a channel paused too long). An alert is a send like any other, keyed by
its subject, so each goes out once, however many processes see the same trouble."""

from __future__ import annotations

from datetime import datetime, timedelta

from .activity import What, tell
from .config import Settings
from .identity import send_key, site_uid
from .ledger import Ledger
from .models import SlotKind
from .records import Send, SendRecord

VALID_FOR = timedelta(days=1)


def alert(settings: Settings, subject: str, title: str, text: str, now: datetime) -> Send | None:
    """The alert send about ``subject`` (e.g. ``failed:<send key>``), or None when the site
    has no alerts channel."""
    channel = settings.alerts.channel
    if channel is None:
        return None
    uid = site_uid(settings.site.base_url)
    return Send(
        send_key(uid, "alert", channel, subject),
        uid,
        "alert",
        SlotKind.ALERT,
        channel,
        subject,
        now,
        now + VALID_FOR,
        text=f"{title}\n\n{text}".strip() + "\n",
    )


def raise_alert(
    ledger: Ledger, settings: Settings, subject: str, title: str, text: str, now: datetime
) -> bool:
    """Record the alert (once: its key is its subject); True when it is new."""
    made = alert(settings, subject, title, text, now)
    if made is None:
        return False
    if ledger.add_sends([made], now, "alert"):
        tell(What.ALERT, f"{title} → {made.channel}", subject=subject, channel=made.channel)
        return True
    return False


def missed(ledger: Ledger, settings: Settings, rec: SendRecord, now: datetime) -> None:
    """A send whose window ended before it went out: told, and an alert (unless it was an
    alert itself: alerts about alerts would never end)."""
    tell(
        What.MISSED,
        f"{rec.key_slot} → {rec.channel}  {rec.uid}: its window ended",
        key=rec.key,
        channel=rec.channel,
    )
    if rec.kind != SlotKind.ALERT:
        raise_alert(
            ledger,
            settings,
            f"missed:{rec.key}",
            f"livepipe: missed {rec.key_slot} → {rec.channel}",
            f"{rec.uid}: its window ended {rec.valid_until.isoformat()} before it went out",
            now,
        )
