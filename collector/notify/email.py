"""E-mail sender: SMTP with STARTTLS or implicit TLS, optional AUTH, with timeouts.

The mail is an :class:`email.message.EmailMessage` (UTF-8 subject encoded per
RFC 2047, UTF-8 text body).  Its ``Message-ID`` is derived from the delivery
key, so a resend after a crash between sending and recording carries the same
Message-ID; SMTP itself has no idempotency, so such a resend may still reach
the mailbox twice (at-least-once, at most one extra copy).

Failures: connection problems, timeouts, 4xx answers and authentication
failures are transient (an operator can fix a password within the max age);
a 5xx refusal of every recipient or of the message data is permanent.  When
some recipients are accepted and others refused, the mail counts as sent and
the refusals are logged (resending would duplicate it for the accepted ones).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from collector.notify.base import Outgoing, PermanentError, TransientError
from collector.notify.config import Channel
from collector.notify.messages import LIMITS

__all__ = ["EmailSender", "build_message"]

log = logging.getLogger(__name__)


def build_message(channel: Channel, out: Outgoing) -> EmailMessage:
    """The mail: the subject fitted to :data:`LIMITS` ``email_subject`` characters (the ``email``
    package folds it into lines of at most 78), the whole text as the body."""
    msg = EmailMessage()
    limit = LIMITS["email_subject"]
    title = out.message.fit(lambda m: len(m.title) <= limit).title
    msg["Subject"] = title if len(title) <= limit else title[:limit - 1] + "…"
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg["Date"] = formatdate(out.at.timestamp(), localtime=False)
    msg["Message-ID"] = f"<{out.key}@wardround>"
    msg["X-Wardround-Event"] = f"{out.event} {out.event_uid}"
    msg.set_content(out.message.text, charset="utf-8")
    return msg


class EmailSender:
    """Sends to one e-mail channel; ``context`` is the TLS context (default: system CAs)."""

    def __init__(self, channel: Channel, *, context: ssl.SSLContext | None = None) -> None:
        self.channel = channel
        if context is None:
            context = ssl.create_default_context(cafile=channel.ca_file)
        self.context = context

    def _connect(self) -> smtplib.SMTP:
        ch = self.channel
        if ch.security == "ssl":
            return smtplib.SMTP_SSL(ch.host, ch.port, timeout=ch.timeout_s, context=self.context)
        smtp = smtplib.SMTP(ch.host, ch.port, timeout=ch.timeout_s)
        try:
            smtp.ehlo()
            if ch.security == "starttls":
                smtp.starttls(context=self.context)
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, out: Outgoing) -> None:
        ch = self.channel
        where = f"{ch.host}:{ch.port}"
        try:
            smtp = self._connect()
        except smtplib.SMTPNotSupportedError as exc:
            raise TransientError(f"{where} does not offer STARTTLS") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"cannot connect to {where}: {_reason(exc)}") from exc
        try:
            if ch.username and ch.password is not None:
                smtp.login(ch.username, ch.password.reveal())
            refused = smtp.send_message(build_message(ch, out))
        except smtplib.SMTPAuthenticationError as exc:
            raise TransientError(f"{where} refused the login of {ch.username}: {exc.smtp_code}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {code for code, _ in exc.recipients.values()}
            text = ", ".join(f"{rcpt} ({code})" for rcpt, (code, _) in exc.recipients.items())
            if all(500 <= c < 600 for c in codes):
                raise PermanentError(f"{where} refused every recipient: {text}") from exc
            raise TransientError(f"{where} deferred recipients: {text}") from exc
        except smtplib.SMTPDataError as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentError(f"{where} rejected the message: {exc.smtp_code} "
                                     f"{_text(exc.smtp_error)}") from exc
            raise TransientError(f"{where} deferred the message: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            raise TransientError(f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"sending through {where} failed: {_reason(exc)}") from exc
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        if refused:
            log.warning("mail %s: %s refused some recipients: %s", out.key, where,
                        ", ".join(f"{r} ({c})" for r, (c, _) in refused.items()))


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text.strip()[:200]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
