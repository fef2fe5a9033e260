"""The collector's own ticket texts (issue 14): keyed, rendered per reader, bad input shows the English note."""

from __future__ import annotations

import logging
import re

import orjson
import pytest

from collector.messages import note_json, note_text, ticket_summary, ticket_templates, tsay


def test_a_note_reads_in_each_language_and_a_persons_markup_keeps_the_english_note_without_a_key() -> None:
    what = tsay("tickets.what.silent_since", since="2026-12-01T00:00:00Z", grace_zh="15分钟", grace_en="15m")
    note = tsay("tickets.note.opened_silent", what=what)
    assert note == "opened from monitoring: no report from the agent since 2026-12-01T00:00:00Z (grace 15m)"
    assert note_text(note, note_json(note), "zh_CN") == \
        "监控开单：自 2026-12-01T00:00:00Z 起代理程序没有上报（宽限 15分钟）"
    theirs = tsay("tickets.note.reported_again_note", via="phone", actor="li", note="disk <b>full</b>")
    assert theirs == "reported again: reported via phone by li: disk <b>full</b>" and note_json(theirs) is None
    summary = tsay("tickets.summary.agent_silent", host="his-db-01", what=what)
    stored = orjson.dumps({"message": summary.message.to_wire()}).decode()  # type: ignore[attr-defined]
    assert ticket_summary(summary, "agent", "silent", stored, "zh_CN").startswith("his-db-01 的代理程序无响应：")


@pytest.mark.parametrize("message", [
    {"key": "tickets.note.breach.response", "args": {}},  # missing argument
    {"key": "tickets.note.breach.response", "args": {"due": "<script>"}},  # markup
    {"key": "tickets.note.from_a_newer_collector", "args": {}},  # unknown key
    "not json",
])
def test_bad_stored_notes_render_the_english_note_and_are_logged(message: object,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    raw = message if isinstance(message, str) else orjson.dumps(message).decode()
    with caplog.at_level(logging.WARNING):
        assert note_text("the English note", raw, "zh_CN") == "the English note"
    assert "not rendered" in caplog.text or "not readable" in caplog.text


def test_a_wrong_placeholder_in_the_catalogue_renders_the_english_note(monkeypatch: pytest.MonkeyPatch,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    note = tsay("tickets.note.breach.resolve", due="2026-12-01T00:00:00Z")
    broken = {**ticket_templates("zh_CN"), "tickets.note.breach.resolve": "解决时限 {dew} 已过"}
    monkeypatch.setattr("collector.messages.ticket_templates", lambda lang: broken if lang == "zh_CN" else {})
    with caplog.at_level(logging.WARNING):
        assert note_text(note, note_json(note), "zh_CN") == note
    assert "not rendered" in caplog.text


def test_both_languages_have_the_same_ticket_texts_with_the_same_placeholders() -> None:
    from checks.messages import placeholders
    zh, en = ticket_templates("zh_CN"), ticket_templates("en")
    assert set(zh) == set(en) and len(en) > 30
    for key in en:  # a language's own names (name_zh/name_en, grace_zh/grace_en) aside
        same = {k: v for k, v in placeholders(en[key]).items() if not k.endswith("_en")}
        assert same == {k: v for k, v in placeholders(zh[key]).items() if not k.endswith("_zh")}, key


# a sample argument by placeholder name or kind: words (:t) are keys of the family the template names
_WORDS = {"status": "tickets.status.CRITICAL", "state": "tickets.state.open", "why": "tickets.refuse.close",
          "field": "tickets.field.host", "role": "errors.integrity.role.engineer"}


def test_every_ticket_text_renders_with_sample_arguments_in_both_languages(caplog: pytest.LogCaptureFixture) -> None:
    from checks.messages import placeholders, render
    from checks.result import Message
    nested = tsay("tickets.note.acknowledged").message  # type: ignore[attr-defined]
    for lang in ("zh_CN", "en"):
        templates = ticket_templates(lang)
        for key, template in templates.items():
            args = {name: _WORDS[name] if spec == "t" else nested if spec == "msg" else [nested] if spec == "list"
                    else 7 for name, spec in placeholders(template).items()}
            said = render(Message(key, args), lang, templates)
            assert said is not None and not re.search(r"\{\w+(:\w*)?\}", said), (lang, key, caplog.text)
