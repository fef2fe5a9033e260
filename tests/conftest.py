"""Shared test helpers.

``missing(component, why)``: a test that needs a real component (PostgreSQL,
sshd, Prometheus...) and cannot find it calls this.  Under ``CI=true`` the
test fails, because CI installs every component; elsewhere it is skipped
with the reason.
"""

from __future__ import annotations

import os
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(component: str, why: str) -> None:
    """Fail under CI, skip elsewhere: ``component`` is needed but not usable."""
    message = f"{component} is needed but not available: {why}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
