"""Days until a filesystem is full, from the agent's own recent history of it.

The disk check keeps, per filesystem, a short history of ``(time, used bytes)``
samples in its state.  :func:`remember` adds one sample per run and keeps the
history bounded:

- samples older than the forecast window (default 7 days) are dropped;
- at most ``max_samples`` are kept: when runs come faster than
  ``window / max_samples`` apart, the newest sample replaces the previous one
  instead of being appended, so a 5-minute schedule over 7 days keeps about one
  sample every 20 minutes and the newest reading is always present;
- a filesystem whose size changed (grown, shrunk, replaced) starts afresh:
  its old usage says nothing about the new one.

:func:`days_to_full` fits a least-squares line through the samples and divides
the space still free by the growth rate.  It never invents a figure: with too
little history (fewer than three samples, or spanning less than
``min_span_s``) or a filesystem that is not growing, it returns ``None`` and
the reason, which the check puts in its summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from checks.messages import Said, say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Forecast", "days_to_full", "linear_fit", "remember"]

DEFAULT_MAX_SAMPLES = 500
MIN_SAMPLES = 3


@dataclass(frozen=True)
class Forecast:
    """``days`` until full, or ``None`` with ``reason`` saying why there is no figure."""

    days: float | None
    reason: Said
    growth_bytes_per_day: float | None = None
    samples: int = 0
    span_s: float = 0.0


def remember(entry: Any, now_s: float, used: int, total: int, *, window_s: float,
             max_samples: int = DEFAULT_MAX_SAMPLES) -> dict[str, Any]:
    """The filesystem's history entry with the sample ``(now_s, used)`` added and bounded.

    ``entry`` is what the previous run stored (anything else, e.g. a corrupted
    state, is treated as no history).  Returns the new entry to store.
    """
    samples: list[list[float]] = []
    if isinstance(entry, dict) and entry.get("total") == total and isinstance(entry.get("samples"), list):
        for s in entry["samples"]:
            if (isinstance(s, list | tuple) and len(s) == 2
                    and all(isinstance(v, int | float) and not isinstance(v, bool) for v in s)):
                samples.append([float(s[0]), float(s[1])])
    # A clock that went backwards (or a restored snapshot) leaves samples "from the future".
    samples = [s for s in samples if now_s - window_s <= s[0] < now_s]
    samples.sort(key=lambda s: s[0])
    spacing = window_s / max(1, max_samples)
    if len(samples) >= 2 and now_s - samples[-2][0] < spacing:
        samples[-1] = [now_s, float(used)]
    else:
        samples.append([now_s, float(used)])
    if len(samples) > max_samples:
        samples = samples[-max_samples:]
    return {"total": total, "samples": samples}


def linear_fit(points: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Least-squares ``(slope, intercept)`` of ``y = slope * x + intercept``; needs two distinct x."""
    n = len(points)
    if n < 2:
        raise ValueError("need at least two points")
    x0 = points[0][0]  # centre on the first x: epoch seconds squared lose precision
    xs = [p[0] - x0 for p in points]
    ys = [p[1] for p in points]
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("all points have the same x")
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    return slope, my - slope * mx - slope * x0


def days_to_full(entry: dict[str, Any], free_now: int, *, min_span_s: float) -> Forecast:
    """Days until ``free_now`` bytes are used up at the fitted growth rate."""
    samples = entry.get("samples", [])
    n = len(samples)
    span = samples[-1][0] - samples[0][0] if n else 0.0
    if n < MIN_SAMPLES or span < min_span_s:
        reason = say("forecast.none_yet_one" if n == 1 else "forecast.none_yet", n=n, span=span,
                     need=MIN_SAMPLES, need_span=min_span_s)
        return Forecast(None, reason,
                        samples=n, span_s=span)
    slope, _ = linear_fit(samples)
    per_day = slope * 86400.0
    if per_day <= 0:
        return Forecast(None, say("forecast.not_growing"), growth_bytes_per_day=per_day, samples=n, span_s=span)
    if free_now <= 0:
        return Forecast(0.0, say("forecast.full"), growth_bytes_per_day=per_day, samples=n, span_s=span)
    days = free_now / per_day
    return Forecast(days, say("forecast.full_in", days=days), growth_bytes_per_day=per_day, samples=n, span_s=span)

