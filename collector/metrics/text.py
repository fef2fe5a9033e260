"""The exposition's text writer: escaping, numbers, and families written straight to text."""

from collections.abc import Callable

import orjson

# -- the text writer -----------------------------------------------------------

def escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


_SPECIAL = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}


def number(v: float) -> str:
    s = repr(float(v))
    return _SPECIAL[s] if s[-1] in "fn" else s  # only inf, -inf and nan end in a letter


class Gauge:
    """A gauge family written to text: its HELP and TYPE lines, then :meth:`lines` (a subclass's samples)."""

    __slots__ = ("name", "help")

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help

    def render(self, out: list[str]) -> None:
        out.append(f"# HELP {self.name} {self.help}\n# TYPE {self.name} gauge\n")
        self.lines(out)

    def lines(self, out: list[str]) -> None:
        raise NotImplementedError


class Family(Gauge):
    """One gauge family: label text → value, with a rule for a repeated series."""

    __slots__ = ("samples", "keep")

    def __init__(self, name: str, help: str, worse: str = "max") -> None:
        super().__init__(name, help)
        self.samples: dict[str, float] = {}
        self.keep: Callable[[float, float], float] = max if worse == "max" else min

    def add(self, labels: str, value: float) -> None:
        held = self.samples.get(labels)
        self.samples[labels] = value if held is None else self.keep(held, value)

    def lines(self, out: list[str]) -> None:
        prefix = self.name + "{"
        out.extend(f"{prefix}{labels}}} {number(v)}\n" for labels, v in self.samples.items())


class Cached:
    """A family whose lines were written per host, encoded, and kept (:mod:`collector.metrics.cache`)."""

    __slots__ = ("chunks", "help", "name")

    def __init__(self, name: str, help: str, chunks: list[bytes]) -> None:
        self.name = name
        self.help = help
        self.chunks = chunks


def metric_values(metrics_json: str | bytes) -> list[tuple[str, float | None, float | None, float | None]]:
    """(name, value, warn, crit) of each metric in a stored ``metrics`` JSON list; value None = unmeasured.

    A number is a JSON int or float (a bool is neither); anything else counts as absent.
    """
    try:
        items = orjson.loads(metrics_json)
    except orjson.JSONDecodeError:
        return []
    if type(items) is not list:
        return []
    out: list[tuple[str, float | None, float | None, float | None]] = []
    for m in items:
        if type(m) is dict:
            name, v, w, c = m.get("name"), m.get("value"), m.get("warn"), m.get("crit")
            if type(name) is str and (v is None or type(v) is float or type(v) is int):
                out.append((name, None if v is None else float(v),
                            w if type(w) is float else float(w) if type(w) is int else None,
                            c if type(c) is float else float(c) if type(c) is int else None))
    return out
