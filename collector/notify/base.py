"""What a sender gets and how it fails.

A sender sends one :class:`Outgoing` to one channel and returns, or raises:

``TransientError``  the receiver is down, slow or answered an error that may
                    pass (5xx, 408, a robot's ``errcode``); the delivery is
                    retried with backoff until its max age.
``RateLimited``     (a TransientError) the receiver refused because we sent too
                    much (HTTP 429, a robot's rate-limit code): every collector
                    stops sending to that receiver for ``blocked_s`` seconds
                    (DingTalk blocks a robot for 10 minutes).
``PermanentError``  the receiver refused this message for good (4xx other
                    than 408/429, every recipient refused with 5xx); the
                    delivery is marked failed at once with the reason.

Error messages never contain secrets: URLs are shown through ``mask_url``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from collector.notify.messages import Message

__all__ = ["Outgoing", "PermanentError", "RateLimited", "SendError", "Sender", "TransientError"]


class SendError(Exception):
    """A send that did not succeed; ``str(exc)`` is safe to log and store."""


class TransientError(SendError):
    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimited(TransientError):
    def __init__(self, message: str, *, blocked_s: float) -> None:
        super().__init__(message, retry_after_s=blocked_s)
        self.blocked_s = blocked_s


class PermanentError(SendError):
    pass


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One delivery to send: ``key`` is stable across retries (the idempotency key).

    A digest (``event == "digest"``) stands for several deliveries; its ``message`` lists them.
    """

    key: str
    event_uid: str
    event: str
    at: datetime
    ticket: Mapping[str, Any]
    language: str
    message: Message


class Sender(Protocol):
    def send(self, out: Outgoing) -> None: ...
