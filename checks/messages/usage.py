"""``--help`` and argparse's errors in the reader's language, for ``wardround-agent`` and ``wardround-collector``.

:class:`ReaderParser` is an :class:`argparse.ArgumentParser` whose descriptions, epilogs and help texts are
keys (``cli.help.*`` of checks/messages/cli.{zh_CN,en}.json; a template's ``{name}`` is argparse's
``%(name)s``: ``{default}`` the option's default).  Only when help or a usage error is shown does it read
the reader's language (:func:`checks.messages.reader.reader_language`) and the templates, and word
argparse's own texts (``usage:``, ``options``, ``the following arguments are required``…, ``cli.argparse.*``)
in it: a parse that succeeds loads neither (``wardround-agent run`` keeps its footprint, issue 16).

Standard library only.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import NoReturn

__all__ = ["ARGPARSE", "ReaderParser"]

#: argparse's own texts (its gettext msgids, Python 3.11-3.13) → ``cli.argparse.*`` keys, and the name a
#: positional ``%s``/``%r`` takes in the key's template
ARGPARSE: dict[str, tuple[str, str]] = {
    "usage: ": ("cli.argparse.usage", ""),
    "positional arguments": ("cli.argparse.positional", ""),
    "options": ("cli.argparse.options", ""),
    "show this help message and exit": ("cli.argparse.help", ""),
    "show program's version number and exit": ("cli.argparse.version", ""),
    "%(prog)s: error: %(message)s\n": ("cli.argparse.error", ""),
    "argument %(argument_name)s: %(message)s": ("cli.argparse.argument", ""),
    "the following arguments are required: %s": ("cli.argparse.required", "names"),
    "unrecognized arguments: %s": ("cli.argparse.unrecognized", "names"),
    "invalid choice: %(value)r (choose from %(choices)s)": ("cli.argparse.invalid_choice", ""),
    "invalid %(type)s value: %(value)r": ("cli.argparse.invalid_value", ""),
    "expected one argument": ("cli.argparse.one", ""),
    "expected at most one argument": ("cli.argparse.at_most_one", ""),
    "expected at least one argument": ("cli.argparse.at_least_one", ""),
    "expected %s argument": ("cli.argparse.n", "n"),
    "expected %s arguments": ("cli.argparse.n", "n"),
    "ambiguous option: %(option)s could match %(matches)s": ("cli.argparse.ambiguous", ""),
    "not allowed with argument %s": ("cli.argparse.not_with", "name"),
    "one of the arguments %s is required": ("cli.argparse.one_of", "names"),
    "ignored explicit argument %r": ("cli.argparse.ignored", "value"),
}
_PLACEHOLDER = r"%\((\w+)\)([sr])|%([sr])"
_NAME = r"\{(\w+)\}"


def _templates() -> tuple[str, Mapping[str, str]]:
    from checks.messages.reader import cli_templates, reader_language

    lang = reader_language()
    return lang, cli_templates(lang)


def _argparse_text(msgid: str, templates: Mapping[str, str]) -> str:
    """argparse's text ``msgid`` as a template of argparse's own (``%(name)s``), in the templates' language."""
    import re

    key, positional = ARGPARSE.get(msgid, ("", ""))
    template = templates.get(key)
    if template is None:
        return msgid
    conversion = {m.group(1) or positional: m.group(0) for m in re.finditer(_PLACEHOLDER, msgid)}
    return re.sub(_NAME, lambda m: conversion.get(m.group(1), m.group(0)), template.replace("%", "%%"))


def _help_text(text: str | None, templates: Mapping[str, str], expanded: bool = True) -> str | None:
    """A ``cli.help.*`` key as argparse's help string (``{name}`` → ``%(name)s``, which argparse fills in;
    not ``expanded``: a description or epilog, where it formats nothing but ``%(prog)s``); anything else as
    it is."""
    import re

    if text is not None and text in ARGPARSE:  # -h and --version: argparse wrote its own when it was built
        return _argparse_text(text, templates).replace("%", "%%")
    if text is None or not text.startswith("cli.help."):
        return text
    template = templates.get(text, text).replace("%", "%%")
    return re.sub(_NAME, r"%(\1)s", template) if expanded else template


def _word(parser: argparse.ArgumentParser) -> Callable[[], None]:
    """``parser``'s texts and argparse's own in the reader's language, until the returned undo is called."""
    lang, templates = _templates()
    saved: list[tuple[object, str, object]] = []

    def put(obj: object, name: str, value: object) -> None:
        saved.append((obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    put(parser, "description", _help_text(parser.description, templates, expanded=False))
    put(parser, "epilog", _help_text(parser.epilog, templates, expanded=False))
    for group in parser._action_groups:  # "positional arguments", "options": worded when the parser was built
        put(group, "title", _argparse_text(group.title, templates) if group.title and lang != "en" else group.title)
    for action in parser._actions:
        put(action, "help", _help_text(action.help, templates))
        for choice in getattr(action, "_choices_actions", ()):
            put(choice, "help", _help_text(choice.help, templates))
    if lang != "en":  # argparse's own English as it is
        put(argparse, "_", lambda msgid: _argparse_text(msgid, templates))
        put(argparse, "ngettext", lambda one, many, n: _argparse_text(one if n == 1 else many, templates))

    def undo() -> None:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)
    return undo


def _filled(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` of ``values`` replaced by its text (anything else left as it is)."""
    import re

    return re.sub(_NAME, lambda m: values.get(m.group(1), m.group(0)), template)


def _reworded(message: str, templates: Mapping[str, str]) -> str:
    """An error argparse worded in English (``message``) in the templates' language: matched against
    argparse's texts (a nested ``%(message)s`` too); as it is when none matches."""
    import re

    for msgid, (key, positional) in ARGPARSE.items():
        names, parts, last = [], [], 0
        for m in re.finditer(_PLACEHOLDER, msgid):
            names.append(m.group(1) or positional)
            parts += [re.escape(msgid[last:m.start()]), f"(?P<{names[-1]}>.*?)"]
            last = m.end()
        found = re.fullmatch("".join([*parts, re.escape(msgid[last:])]), message, re.S)
        if found is None or key not in templates:
            continue
        return _filled(templates[key], {name: _reworded(found.group(name), templates) if name == "message"
                                        else found.group(name) for name in names})
    return message


class ReaderParser(argparse.ArgumentParser):
    """An argument parser speaking the reader's language when it shows help or an error (module doc)."""

    def _worded(self, show: Callable[[], str]) -> str:
        undo = _word(self)
        try:
            return show()
        finally:
            undo()

    def format_help(self) -> str:
        def show() -> str:
            text = super(ReaderParser, self).format_help()
            if _templates()[0] == "en":
                return text
            for group in self._action_groups:  # argparse ends a section's title with an ASCII colon
                if group.title:
                    text = text.replace(f"\n{group.title}:\n", f"\n{group.title}：\n")
            return text
        return self._worded(show)

    def format_usage(self) -> str:
        return self._worded(super().format_usage)

    def error(self, message: str) -> NoReturn:
        lang, templates = _templates()
        said = message if lang == "en" else _reworded(message, templates)
        self.print_usage(sys.stderr)
        undo = _word(self)
        try:
            worded = getattr(argparse, "_")  # noqa: B009 - argparse's gettext, as _word left it
            line = worded("%(prog)s: error: %(message)s\n") % {"prog": self.prog, "message": said}
        finally:
            undo()
        self.exit(2, line)
