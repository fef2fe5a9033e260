"""The parameters of the ``http`` check (checks/http.py), a leaf module."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from checks.params import Duration, check_above_zero, check_order

_EXPECT_RE = re.compile(r"^(?:([1-5])xx|(\d{3})(?:-(\d{3}))?)$", re.IGNORECASE)


@dataclass(frozen=True)
class HttpParams:
    #: http:// or https:// URL, e.g. https://his-web.hospital.local/health
    url: str = ""
    #: expected status codes: 200, 2xx, 200-299 (a list); default any 2xx or 3xx
    expect: tuple[str, ...] = ()
    #: text that must be in the response body (case-sensitive)
    contains: str = ""
    method: str = "GET"
    timeout: Duration = Duration(10.0)
    #: response time at which the result is WARNING
    warn: Duration = Duration(2.0)
    #: response time at which the result is CRITICAL
    crit: Duration = Duration(5.0)
    follow_redirects: bool = False
    #: https: verify the certificate chain and name
    verify: bool = True
    #: https: PEM bundle of the CAs to trust; default the system's
    ca_file: str = ""
    days_warn: float = 30.0
    days_crit: float = 7.0

    def __post_init__(self) -> None:
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise ValueError(f"url: expected http://host/... or https://host/... (got {self.url!r})")
            try:
                parts.port  # noqa: B018 - raises for a bad port
            except ValueError:
                raise ValueError(f"url: bad port in {self.url!r}") from None
        for e in self.expect:
            if not _EXPECT_RE.match(e.strip()):
                raise ValueError(f"expect: expected status codes like 200, 2xx or 200-299 (got {e!r})")
        if self.method.upper() not in ("GET", "HEAD"):
            raise ValueError(f"method: expected GET or HEAD (got {self.method!r})")
        check_order(self, "warn", "crit", " s")
        check_order(self, "days_crit", "days_warn")
        check_above_zero(self, "timeout")
