"""The e-mail sender against a real SMTP server on loopback (aiosmtpd): STARTTLS, SSL, AUTH, UTF-8."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import pytest

from collector.notify.base import Outgoing, PermanentError, TransientError
from collector.notify.config import parse_notifications
from collector.notify.email import EmailSender
from collector.notify.messages import render
from tests.collector.notify_receivers import (  # noqa: F401 (fixtures)
    SMTP_PASSWORD,
    SMTP_USER,
    MailSink,
    mail_sink_fixture,
    tls_cert_fixture,
)

AT = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
TICKET = {"id": 42, "site": "central-hospital", "host": "his-db-01", "check": "db_backup", "item": "HIS",
          "severity": 1, "state": "open", "summary": "全量备份失败：HIS 库 26 小时没有完整备份",
          "opened_at": AT.isoformat(), "response_due": "2026-11-23T02:00:00+00:00",
          "resolve_due": "2026-11-23T05:30:00+00:00", "occurrences": 1}


def _channel(sink: MailSink, cert, **overrides):  # type: ignore[no-untyped-def]
    doc = {"type": "email", "host": "127.0.0.1", "port": sink.port, "security": "starttls",
           "username": SMTP_USER, "password": SMTP_PASSWORD, "from": "Wardround <wardround@example.cn>",
           "to": ["oncall@example.cn", "李工 <li@example.cn>"], "ca_file": str(cert.cert), "timeout": "5s",
           **overrides}
    config, problems = parse_notifications({"channels": {"mail": doc}})
    assert problems == []
    assert config is not None
    return config.channels["mail"]


def _out(language: str = "zh") -> Outgoing:
    message = render("opened", TICKET, at=AT, language=language, timezone="Asia/Shanghai")
    return Outgoing(key="abc123.mail", event_uid="abc123", event="opened", at=AT, ticket=TICKET,
                    language=language, message=message)


def test_mail_arrives_with_chinese_subject_when_sent_over_starttls_with_auth(mail_sink, tls_cert):
    EmailSender(_channel(mail_sink, tls_cert)).send(_out("zh"))
    assert len(mail_sink.messages) == 1
    mail = mail_sink.messages[0]
    assert mail["Subject"] == "[Wardround] 新故障单 #42 central-hospital his-db-01 db_backup HIS (1级)"
    assert "=?utf-8?" in mail.as_string().lower()  # the subject travelled RFC 2047-encoded
    assert mail["Message-ID"] == "<abc123.mail@wardround>"
    body = mail.get_content()
    assert "全量备份失败" in body and "响应时限：2026-11-23 10:00 (Asia/Shanghai)" in body
    assert mail_sink.envelopes == [("wardround@example.cn", ["oncall@example.cn", "li@example.cn"])]
    assert mail_sink.auth_mechanisms and mail_sink.auth_mechanisms[0] in ("PLAIN", "LOGIN")


def test_mail_arrives_in_english_when_sent_over_implicit_tls(tls_cert):
    sink = MailSink(tls_cert, implicit_tls=True)
    sink.start()
    try:
        EmailSender(_channel(sink, tls_cert, security="ssl")).send(_out("en"))
    finally:
        sink.stop()
    assert str(sink.messages[0]["Subject"]).strip().startswith("[Wardround] New ticket #42")
    assert "Respond by: 2026-11-23 10:00 (Asia/Shanghai)" in sink.messages[0].get_content()


def test_send_is_transient_failure_when_password_is_wrong(mail_sink, tls_cert):
    with pytest.raises(TransientError, match="refused the login of wardround: 535") as info:
        EmailSender(_channel(mail_sink, tls_cert, password="wrong-guess")).send(_out())
    assert "wrong-guess" not in str(info.value)
    assert mail_sink.messages == []


def test_send_is_transient_failure_when_server_is_down(tls_cert):
    sink = MailSink(tls_cert)  # never started: nothing listens on its port
    with pytest.raises(TransientError, match="cannot connect to 127.0.0.1"):
        EmailSender(_channel(sink, tls_cert)).send(_out())


def test_send_is_transient_failure_when_certificate_is_not_trusted(mail_sink, tls_cert):
    channel = _channel(mail_sink, tls_cert)
    with pytest.raises(TransientError, match="cannot connect"):
        EmailSender(channel, context=ssl.create_default_context()).send(_out())
    assert mail_sink.messages == []


def test_send_is_permanent_failure_when_every_recipient_is_refused(mail_sink, tls_cert):
    mail_sink.refuse_rcpt = {"oncall@example.cn": "550 no such user", "li@example.cn": "550 no such user"}
    with pytest.raises(PermanentError, match="refused every recipient"):
        EmailSender(_channel(mail_sink, tls_cert)).send(_out())


def test_mail_counts_as_sent_when_only_some_recipients_are_refused(mail_sink, tls_cert):
    mail_sink.refuse_rcpt = {"li@example.cn": "550 no such user"}
    EmailSender(_channel(mail_sink, tls_cert)).send(_out())
    assert mail_sink.envelopes == [("wardround@example.cn", ["oncall@example.cn"])]


def test_deferred_recipients_are_transient_failure_when_server_answers_4xx(mail_sink, tls_cert):
    mail_sink.refuse_rcpt = {"oncall@example.cn": "451 try later", "li@example.cn": "451 try later"}
    with pytest.raises(TransientError, match="deferred recipients"):
        EmailSender(_channel(mail_sink, tls_cert)).send(_out())
