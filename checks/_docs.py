"""Render ``docs/checks.md`` from the check catalogue.

Every check's page section is made of what the code declares: the catalogue's
one-line summary, the module docstring (what it measures, the status table,
its metrics) and a parameter table from the params dataclass — name, type,
default, and the ``#:`` comment above the field.  ``tests/checks/test_docs.py``
fails when the committed page differs from this output.

Regenerate::

    python -m checks._docs > docs/checks.md
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import types
import typing
from typing import Any

from checks.catalogue import CATALOGUE
from checks.params import Duration, field_types, format_duration

__all__ = ["render"]

COMMAND = "python -m checks._docs > docs/checks.md"


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{_type_name(args[0])} or empty" if len(args) == 1 else " or ".join(map(_type_name, args))
    if tp is Duration:
        return "duration"
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    names = {float: "number", int: "integer", str: "text", bool: "true/false"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _default(value: Any, tp: Any) -> str:
    if value is None:
        return "—"
    if tp is Duration or (typing.get_origin(tp) in (typing.Union, types.UnionType)
                          and Duration in typing.get_args(tp)):
        return f"`{format_duration(float(value))}`" if value else "`0`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return "`" + ", ".join(str(v) for v in value) + "`" if value else "—"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, str):
        return f"`{value}`" if value else "—"
    return f"`{value}`"


def _field_comments(cls: type) -> dict[str, str]:
    """``#: text`` comment lines right above each field of the dataclass source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:", stripped)
        if m and pending:
            comments[m.group(1)] = " ".join(pending)
        pending = []
    return comments


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _params_table(cls: type) -> list[str]:
    hints = field_types(cls)
    comments = _field_comments(cls)
    rows = ["| parameter | type | default | meaning |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        rows.append(f"| `{f.name}` | {_type_name(hints[f.name])} | {_cell(_default(default, hints[f.name]))} "
                    f"| {_cell(comments.get(f.name, ''))} |")
    return rows


def render() -> str:
    out = [
        "# Checks",
        "",
        f"Generated from the check catalogue by `{COMMAND}`; do not edit by hand.",
        "Each section is the check module's own documentation and its parameters dataclass.",
        "Durations are written `30s`, `5m`, `26h`, `7d`; lists on the command line as `a,b,c`",
        "(`wardround-agent check NAME --param key=value`).",
        "",
        "| check | what it does | time limit |",
        "| --- | --- | --- |",
    ]
    names = list(CATALOGUE)
    for name in names:
        spec = CATALOGUE[name]
        out.append(f"| [`{name}`](#{name}) | {_cell(spec.summary)} | {spec.timeout_s:g} s |")
    for name in names:
        spec = CATALOGUE[name]
        module = sys.modules[spec.run.__module__]
        doc = inspect.cleandoc(module.__doc__ or "").strip()
        first, _, rest = doc.partition("\n")
        out += ["", f"## {name}", "", f"*{_cell(spec.summary)}*", "", first, ""]
        if rest.strip():
            out += ["```text", rest.strip("\n"), "```", ""]
        out += ["### Parameters", "", *_params_table(spec.params)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
