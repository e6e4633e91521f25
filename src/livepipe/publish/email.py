"""Newsletter by email: SMTP (STARTTLS or SSL, optional auth), multipart/alternative.

```toml
[channels.newsletter]
type = "email"
host = "smtp.example.org"
port = 587
security = "starttls"            # starttls | ssl | none
username_env = "SMTP_USER"       # optional
password_env = "SMTP_PASSWORD"   # optional
from = "Community Live <live@example.org>"
recipients_file = "subscribers.txt"   # one address a line, # comments
batch = 50                       # recipients per message (Bcc)
rate_per_second = 2
# One or more unsubscribe URIs: an https one enables RFC 8058 one-click unsubscribe
# (List-Unsubscribe-Post, which the big mailbox providers require of bulk mail); "{email}"
# in a URI is replaced by the recipient's address, and then each recipient gets a message
# of their own.
unsubscribe = ["https://example.org/unsubscribe?email={email}", "mailto:leave@example.org"]
invite = true                    # announce/changed: an invitation (METHOD:REQUEST); cancelled:
                                 # METHOD:CANCEL; the event's UID and the ledger's SEQUENCE
```

Message-ID is derived from the send key, so a repeated send is recognisable; SMTP itself
cannot deduplicate, so a send interrupted mid-call becomes 'uncertain', never resent blindly.
Both parts are quoted-printable (7-bit on the wire: a relay without 8BITMIME takes them as
they are), and both show the unsubscribe link.

Announcement and changed emails carry the event as a third alternative,
``text/calendar; method=REQUEST`` (RFC 6047): the reader's calendar adds it, and a later one
with a higher SEQUENCE (a reschedule) moves the same entry; a cancelled email carries
``method=CANCEL``, which removes it. The ORGANIZER is the ``from`` address, the ATTENDEE the
recipient (or the ``to`` address of a Bcc'd batch), RSVP=FALSE.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from email import policy as email_policy
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from html import escape
from typing import Any, ClassVar
from urllib.parse import quote

from ..errors import ConfigError, PermanentPublishError, TransientPublishError
from ..identity import site_host
from ..models import Message, SlotKind
from ..sitefiles import read_capped, site_file
from .base import Channel, Receipt

_URIS = re.compile(r"<[^<>\s]*>")


class ListHeader(UnstructuredHeader):
    """RFC 2369 list headers (``List-Unsubscribe``, ``List-Unsubscribe-Post``): ASCII
    ``<URI>`` items folded between items, never as RFC 2047 encoded-words (which mailbox
    providers do not decode there, so one-click unsubscribe would break)."""

    def fold(self, *, policy: Any) -> str:
        items = _URIS.findall(str(self)) or [str(self)]
        name: str = self.name  # type: ignore[attr-defined]  # (BaseHeader, at runtime)
        lines, line = [], f"{name}:"
        for i, item in enumerate(items):
            piece = item + ("," if i < len(items) - 1 else "")
            if len(line) + 1 + len(piece) > 78 and line.strip().endswith((",", ":")) and i:
                lines.append(line)
                line = ""
            line += " " + piece
        lines.append(line)
        return str(policy.linesep).join(lines) + str(policy.linesep)


_REGISTRY = HeaderRegistry()
_REGISTRY.map_to_type("list-unsubscribe", ListHeader)  # type: ignore[arg-type]
_REGISTRY.map_to_type("list-unsubscribe-post", ListHeader)  # type: ignore[arg-type]
POLICY = email_policy.default.clone(header_factory=_REGISTRY)
MAX_RECIPIENTS_FILE = 16 << 20


class EmailChannel(Channel):
    type: ClassVar[str] = "email"
    reads: ClassVar[frozenset[str]] = frozenset({"html"})
    required_options: ClassVar[tuple[str, ...]] = ("host", "from", "recipients_file")
    optional_secrets: ClassVar[tuple[str, ...]] = ("username_env", "password_env")

    def budget(self, message: Message) -> float:
        """Connecting, then one deadline per batch (and the pauses of rate_per_second)."""
        count = len(self.recipients())
        size = 1 if self.personal() else max(1, int(self.option("batch", 50)))
        batches = -(-count // size)
        rate = float(self.option("rate_per_second", 0) or 0)
        return (batches + 2) * self.deadline + (batches / rate if rate else 0)

    def recipients(self) -> list[str]:
        name = str(self.option("recipients_file", required=True))
        path = site_file(self.root, name)
        if path is None:
            raise ConfigError(
                f"channels.{self.name}: recipients_file {name} is not a file inside the site",
                hint="give a path relative to the folder of livepipe.toml",
            )
        try:
            data = read_capped(path, MAX_RECIPIENTS_FILE)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"channels.{self.name}: cannot read {name}: {exc}") from exc
        if data is None:
            raise ConfigError(f"channels.{self.name}: {name} is over 16 MiB")
        lines = data.decode("utf-8", "replace").splitlines()
        out = [ln.split("#", 1)[0].strip() for ln in lines]
        return [a for a in out if a]

    def unsubscribe_uris(self, recipient: str | None = None) -> list[str]:
        """The configured unsubscribe URIs, ``{email}`` filled in for ``recipient``
        (percent-encoded: an address cannot break the ``<…>`` list)."""
        value = self.option("unsubscribe")
        uris = [value] if isinstance(value, str) else list(value or [])
        address = quote(recipient or "", safe="@")
        return [str(u).replace("{email}", address) for u in uris if u]

    def validate(self) -> None:
        super().validate()
        for uri in self.unsubscribe_uris("someone@example.org"):
            if not uri.isascii() or any(c in uri for c in '<>" \t\r\n') or len(uri) > 900:
                raise ConfigError(
                    f"channels.{self.name}: unsubscribe URI {uri[:60]!r} must be ASCII, without "
                    "spaces or angle brackets, at most 900 characters",
                    hint="percent-encode it",
                )
            if not uri.startswith(("https://", "http://", "mailto:")):
                raise ConfigError(
                    f"channels.{self.name}: unsubscribe URI {uri[:60]!r} must be https:// or "
                    "mailto:"
                )

    def list_id(self, message: Message) -> str:
        """RFC 2919 ``List-Id``: the ``list_id`` option, else the site's name and
        ``<channel.site-host>``."""
        own = self.option("list_id")
        if own:
            return str(own)
        label = re.sub(r"[^a-z0-9-]+", "-", self.name.lower()).strip("-") or "list"
        host = site_host(self.site_url or message.url)
        name = self.site_name.replace('"', "'")
        return f'"{name}" <{label}.{host}>' if name else f"<{label}.{host}>"

    def personal(self) -> bool:
        """Does an unsubscribe URI name the recipient (one message per recipient)?"""
        value = self.option("unsubscribe")
        return "{email}" in str(value)

    def build(self, message: Message, bcc: list[str]) -> EmailMessage:
        sender = str(self.option("from", required=True))
        domain = sender.rsplit("@", 1)[-1].strip(">") or "livepipe.invalid"
        mail = EmailMessage(policy=POLICY)
        mail["Subject"] = message.title  # encoded as RFC 2047 when not ASCII
        mail["From"] = sender
        mail["To"] = str(self.option("to", sender))
        mail["Date"] = format_datetime(message.due.astimezone())
        mail["Message-ID"] = f"<{message.key}@{domain}>"
        uris = self.unsubscribe_uris(bcc[0] if len(bcc) == 1 else None)
        if uris:
            mail["List-Unsubscribe"] = ", ".join(f"<{u}>" for u in uris)
            if any(u.startswith("https://") for u in uris):
                mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail["List-Id"] = self.list_id(message)
        visible = next((u for u in uris if u.startswith("https://")), uris[0] if uris else None)
        text = message.text
        if visible:
            text += f"\n\n-- \n{self.words(message)('button.unsubscribe')}: {visible}\n"
        mail.set_content(text, cte="quoted-printable")
        html = message.html or (
            '<!DOCTYPE html><html><body style="font-family:sans-serif;">'
            f'<h1 style="font-size:20px;">{escape(message.title)}</h1>'
            + "".join(f"<p>{escape(p)}</p>" for p in message.text.split("\n\n") if p.strip())
            + f'<p><a href="{escape(message.url, quote=True)}">{escape(message.url)}</a></p>'
            "</body></html>"
        )
        if visible:
            html = _with_footer(html, visible, self.words(message)("button.unsubscribe"))
        mail.add_alternative(html, subtype="html", cte="quoted-printable")
        invite = self.invite(message, bcc[0] if len(bcc) == 1 else None)
        if invite is not None:
            method, data = invite
            mail.add_alternative(
                data,
                maintype="text",
                subtype="calendar",
                cte="base64",
                params={"method": method, "charset": "utf-8"},
            )
        del mail["Bcc"]
        mail["Bcc"] = ", ".join(bcc)
        return mail

    def invite(self, message: Message, recipient: str | None) -> tuple[str, bytes] | None:
        """(METHOD, the iTIP calendar) for announce/changed (REQUEST) and cancelled (CANCEL)
        messages about an event; None for the others or with ``invite = false``."""
        method = _METHODS.get(message.kind)
        if method is None or message.event is None or not self.option("invite", True):
            return None
        if message.event.cancelled:
            method = "CANCEL"  # whatever the kind: never a REQUEST for a cancelled event
        from ..render.ics import invitation

        sender = str(self.option("from", required=True))
        name, address = parseaddr(sender)
        attendee = recipient or parseaddr(str(self.option("to", sender)))[1] or address
        data = invitation(
            message.series or message.event,  # a recurring event: the whole series
            method=method,
            sequence=message.sequence,
            organizer=(name or address, address),
            attendee=attendee,
            now=message.due,
            description=message.text,
            site_host_name=site_host(message.event.url),
        )
        return method, data

    def connect(self) -> smtplib.SMTP:
        """Connected (and logged in) within the channel's deadline, however slowly the server
        answers."""
        host = str(self.option("host", required=True))
        port = int(self.option("port", 587))
        security = str(self.option("security", "starttls"))
        timeout = self.deadline
        smtp: smtplib.SMTP = (
            smtplib.SMTP_SSL(timeout=timeout, context=ssl.create_default_context())
            if security == "ssl"
            else smtplib.SMTP(timeout=timeout)
        )
        try:
            with _deadline(timeout, lambda: getattr(smtp, "sock", None)):
                smtp.connect(host, port)
                if security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                user = self.secret("username_env", required=False)
                if user:
                    smtp.login(user, self.secret("password_env") or "")
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise PermanentPublishError(
                f"SMTP login refused ({exc.smtp_code})",
                channel=self.name,
                code=str(exc.smtp_code),
                hint="check the username/password variables",
            ) from None
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            smtp.close()
            raise TransientPublishError(
                f"SMTP connection to {host}:{port} failed: {type(exc).__name__}",
                channel=self.name,
                code="connection",
            ) from None
        return smtp

    def send(self, message: Message) -> Receipt:
        everyone = self.recipients()
        if not everyone:
            raise PermanentPublishError(
                "no recipients",
                channel=self.name,
                code="no-recipients",
                hint="add addresses to the recipients file",
            )
        size = 1 if self.personal() else int(self.option("batch", 50))
        rate = float(self.option("rate_per_second", 0) or 0)
        smtp = self.connect()
        try:
            for i in range(0, len(everyone), size):
                mail = self.build(message, everyone[i : i + size])
                try:
                    with _deadline(self.deadline, lambda: smtp.sock):
                        smtp.send_message(mail, to_addrs=everyone[i : i + size])
                except smtplib.SMTPResponseException as exc:
                    error = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
                    if 400 <= exc.smtp_code < 500:
                        raise TransientPublishError(
                            error, channel=self.name, code=str(exc.smtp_code)
                        ) from None
                    raise PermanentPublishError(
                        error, channel=self.name, code=str(exc.smtp_code)
                    ) from None
                except (OSError, smtplib.SMTPException) as exc:
                    raise TransientPublishError(
                        f"SMTP send failed: {type(exc).__name__}",
                        channel=self.name,
                        code="connection",
                    ) from None
                if rate and i + size < len(everyone):
                    time.sleep(1 / rate)
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
        return Receipt(remote_id=f"<{message.key}>", note=f"{len(everyone)} recipients")

    def preview(self, message: Message) -> str:
        mail = self.build(message, ["(recipients)"])
        return mail.as_string()


@contextlib.contextmanager
def _deadline(seconds: float, sock: Callable[[], socket.socket | None]) -> Iterator[None]:
    """Shut the SMTP socket down when ``seconds`` pass: smtplib's timeout is per read, so a
    server answering one byte a second would otherwise hold the send for ever. The blocked
    read then fails (OSError or SMTPServerDisconnected): a transient error."""

    def close() -> None:
        current = sock()
        if current is not None:
            with contextlib.suppress(OSError):
                current.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, close)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


_METHODS = {
    SlotKind.ANNOUNCE: "REQUEST",
    SlotKind.CHANGED: "REQUEST",
    SlotKind.CANCELLED: "CANCEL",
}


def _with_footer(html: str, uri: str, label: str) -> str:
    """The unsubscribe link as the newsletter's last line (before ``</main>`` or
    ``</body>``: inside the landmark, so screen readers find it with the content)."""
    link = escape(uri, quote=True)
    footer = (
        '<p style="margin:16px 0;font-size:12px;color:#666666;text-align:center;'
        f'overflow-wrap:anywhere;"><a href="{link}" style="color:#666666;">{escape(label)}</a></p>'
    )
    for end in ("</main>", "</body>"):
        at = html.rfind(end)
        if at != -1:
            return html[:at] + footer + "\n" + html[at:]
    return html + footer
