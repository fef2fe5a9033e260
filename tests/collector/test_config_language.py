"""The collector config file's (its ``notifications:`` section too) and the policy file's own problems (a wrong key,
a wrong type, a bad duration, a missing file, YAML syntax) are said in the reader's language, each still ``FILE:
key: expected`` with the file and key as they are; in English exactly as before. Real ``wardround-collector``
processes (the locale is read from the environment), one per language and file."""

from __future__ import annotations

import re
from pathlib import Path

from tests.agent.test_cli_language import _english_prose
from tests.collector.test_cli import cli

ZH = {"LANG": "zh_CN.UTF-8"}
SETTINGS = """\
db: ""
listen: {host: "", port: 70000, tls: yes}
workers: many
http: {header_timeout: 5 minutes, idle: 3}
trusted_proxies: [10.0.0.300]
retention: {results: 10d, audit: forever, ticket_events: 30d}
colour: blue
"""
POLICY = """\
default:
  escalate_on_breach: maybe
  reopen_window: soon
  colour: red
  holidays: gone.yaml
"""
EN_SETTINGS = [
    "bad.yaml: colour: unknown key (expected db, listen, workers, max_body_bytes, notifications, policy_file, "
    "sweep_seconds, key_file, http, trusted_proxies, retention)",
    "bad.yaml: db: expected a database URL such as sqlite:///wardround.db",
    "bad.yaml: listen.tls: unknown key (expected host, port)",
    "bad.yaml: listen.host: expected an address such as 127.0.0.1 or 0.0.0.0",
    "bad.yaml: listen.port: expected a port number 1-65535",
    "bad.yaml: workers: expected an integer 1-64",
    "bad.yaml: http.idle: unknown key (expected header_timeout, body_timeout, keep_alive, max_connections)",
    "bad.yaml: http.header_timeout: expected a duration like 10s or 2m, at most 1h (got '5 minutes')",
    "bad.yaml: trusted_proxies[0]: expected a list of proxy addresses or networks such as [127.0.0.1, 10.0.0.0/8] "
    "(got '10.0.0.300')",
    "bad.yaml: retention.results: 10d is shorter than 100d: the quarterly record is built from the raw results of "
    "its quarter after the quarter ends",
    "bad.yaml: retention.ticket_events: 30d is shorter than 400d: the records of a period, up to the annual record "
    "issued after its year ends, show its tickets from their history (never keeps them for ever)",
    "bad.yaml: retention.audit: expected a duration like 30s, 5m, 26h, 7d",
]


def _lines(stderr: str) -> list[str]:
    return [line.removeprefix("wardround-collector: ") for line in stderr.splitlines()]


def _no_prose(lines: list[str], *identifiers: str) -> None:
    """No English words outside the file names, keys, values shown and the operating system's and PyYAML's texts."""
    text = "\n".join(re.sub(r"'[^']*'|\S*[/.]\S*|\[[^]]*\]", " ", line) for line in lines)
    assert _english_prose(text, {*identifiers, "No", "such", "file", "or", "directory"}) == [], lines


def test_a_collector_config_files_problems_are_said_in_chinese_and_in_english_as_before(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(SETTINGS)
    en = cli("token", "list", "--config", "bad.yaml", cwd=tmp_path)
    assert en.returncode == 2 and _lines(en.stderr) == EN_SETTINGS
    zh = cli("token", "list", "--config", "bad.yaml", cwd=tmp_path, env=ZH)
    lines = _lines(zh.stderr)
    assert zh.returncode == 2 and len(lines) == len(EN_SETTINGS)
    assert [line.split(": ")[:2] for line in lines] == [line.split(": ")[:2] for line in EN_SETTINGS]  # file, key
    for said in ("colour: 未知的键（可用的键：db, listen,", "listen.port: 应为 1–65535 之间的端口号",
                 "workers: 应为 1–64 之间的整数",
                 "http.header_timeout: 应为时长，如 10s 或 2m，最长 1h（收到 '5 minutes'）",
                 "retention.results: 10d 短于 100d：季度巡检记录", "retention.ticket_events: 30d 短于 400d：",
                 "（never 表示永久保留）", "retention.audit: 应为时长，如 30s、5m、26h、7d"):
        assert said in zh.stderr, (said, lines)
    _no_prose(lines, "colour", "db", "listen", "tls", "host", "port", "workers", "max_body_bytes", "notifications",
              "policy_file", "sweep_seconds", "key_file", "http", "idle", "header_timeout", "body_timeout",
              "keep_alive", "max_connections", "trusted_proxies", "retention", "results", "rollups", "ticket_events",
              "audit", "never", "minutes", "bad")


def test_a_policy_files_problems_a_missing_file_and_yaml_syntax_are_said_in_chinese(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "syntax.yaml").write_text("default: [\n")
    gone = (tmp_path / "gone.yaml").resolve()
    for lang, env in (("zh", ZH), ("en", None)):
        policy = cli("policy", "check", "policy.yaml", cwd=tmp_path, env=env)
        syntax = cli("policy", "check", "syntax.yaml", cwd=tmp_path, env=env)
        missing = cli("policy", "check", "nope.yaml", cwd=tmp_path, env=env)
        settings = cli("token", "list", "--config", "nope.yaml", cwd=tmp_path, env=env)
        assert {policy.returncode, syntax.returncode, missing.returncode, settings.returncode} == {2}
        lines = _lines(policy.stderr + syntax.stderr + missing.stderr + settings.stderr)
        if lang == "en":
            assert lines == [
                "policy.yaml: default.colour: unknown key (expected levels, business_hours, holidays, key_customer, "
                "key_factor, rules, maintenance, agent_silent, reopen_window, escalate_on_breach, onsite, records, "
                "restore_drills, followup)",
                f"{gone}: cannot read the holiday calendar: No such file or directory",
                "policy.yaml: default.reopen_window: expected a duration like 30m, 2h, 1h30m or 3wd (3 working days) "
                "(got 'soon')",
                "policy.yaml: default.escalate_on_breach: expected true or false (got 'maybe')",
                "syntax.yaml: not valid YAML (line 2): expected the node content, but found '<stream end>'",
                "nope.yaml: cannot read the policy file: No such file or directory",
                "nope.yaml: cannot read: No such file or directory"]
            continue
        assert lines[0].startswith("policy.yaml: default.colour: 未知的键（可用的键：levels, business_hours,")
        assert lines[1:] == [
            f"{gone}: 无法读取节假日日历：No such file or directory",
            "policy.yaml: default.reopen_window: 应为时长，如 30m、2h、1h30m 或 3wd（3 个工作日）（收到 'soon'）",
            "policy.yaml: default.escalate_on_breach: 应为 true 或 false（收到 'maybe'）",
            "syntax.yaml: 不是有效的 YAML（第 2 行）：expected the node content, but found '<stream end>'",
            "nope.yaml: 无法读取策略文件：No such file or directory",
            "nope.yaml: 无法读取：No such file or directory"]


def test_enrol_key_create_echoes_the_expiry_it_refuses_in_the_readers_language(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert cli("migrate", "--db", db, cwd=tmp_path).returncode == 0
    args = ("enrol-key", "create", "--site", "s1", "--expires", "5", "--db", db, "--key-file", "k.key")
    zh, en = cli(*args, cwd=tmp_path, env=ZH), cli(*args, cwd=tmp_path)
    assert zh.returncode == en.returncode == 2, (zh.stderr, en.stderr)
    assert zh.stderr.splitlines()[-1] == "wardround-collector: 有效期：应为 1 分钟至 365 天（收到 5 秒）"
    assert en.stderr.splitlines()[-1] == "wardround-collector: expires: expected 1m to 365d (got 5 s)"


NOTIFICATIONS = """\
notifications:
  colour: blue
  timezone: Mars/Olympus
  ticket_link: ftp://tickets
  poll: 10m
  retry: {first: 1h, cap: 1m, max_age: never, jitter: 1}
  channels:
    "bad name!": {type: wecom}
    c1: text
    c2: {type: pager}
    w1: {type: wecom, colour: red, timeout: 10m, rate: lots, url: "ftp://x"}
    w2: {type: dingtalk, url: "https://x", url_env: Y, secret_file: ""}
    w3: {type: feishu, url_env: WARDROUND_NO_SUCH_VAR, secret_file: missing.txt, card: maybe}
    w4: {type: webhook, url_file: empty.txt, token_file: latin1.txt}
    w5: {type: wecom}
    m1: {type: email, host: "", security: none, port: 0, username: "", password: p, from: nobody, to: [x],
         ca_file: /nope}
    m2: {type: email, host: h, password: p, from: a@b, to: [c@d], security: tls}
  routes:
    - x
    - {channels: [nowhere], colour: 1, sites: 3, min_level: 9, events: [explode], language: fr}
    - {channels: "<x>"}
    - {sites: ["*"]}
"""
N = "n.yaml: notifications."
#: (English as it always was, Chinese)
NOTIFICATION_LINES = [
    ("colour: unknown key (expected channels, routes, retry, timezone, ticket_link, poll)",
     "colour: 未知的键（可用的键：channels, routes, retry, timezone, ticket_link, poll）"),
    ("channels.bad name!: a channel name is 1-64 letters, digits, '_', '.', '-'",
     "channels.bad name!: 通知渠道名称应为 1–64 个字母、数字、“_”、“.”或“-”"),
    ("channels.c1: expected a mapping with type and its settings", "channels.c1: 应为包含 type 及其设置的映射"),
    ("channels.c2.type: expected one of email, webhook, wecom, dingtalk, feishu",
     "channels.c2.type: 应为以下之一：email, webhook, wecom, dingtalk, feishu"),
    ("channels.w1.colour: unknown key for a wecom channel (expected rate, timeout, type, url, url_env, url_file)",
     "channels.w1.colour: wecom 渠道没有此键（可用的键：rate, timeout, type, url, url_env, url_file）"),
    ("channels.w1.timeout: expected a duration up to 5m such as 20s",
     "channels.w1.timeout: 应为不超过 5m 的时长，如 20s"),
    ("channels.w1.rate: expected a limit such as 20/min or 5/s, a list of them, or off",
     "channels.w1.rate: 应为发送频率上限，如 20/min 或 5/s，或它们的列表，或 off"),
    ("channels.w1.url: expected an http:// or https:// URL", "channels.w1.url: 应为以 http:// 或 https:// 开头的 URL"),
    ("channels.w2.url: give only one of url, url_file, url_env", "channels.w2.url: url、url_file、url_env 只能给一个"),
    ("channels.w2.secret_file: expected a non-empty string", "channels.w2.secret_file: 应为非空字符串"),
    ("channels.w3.url_env: environment variable WARDROUND_NO_SUCH_VAR is not set or empty",
     "channels.w3.url_env: 环境变量 WARDROUND_NO_SUCH_VAR 未设置或为空"),
    ("channels.w3.secret_file: cannot read missing.txt: No such file or directory",
     "channels.w3.secret_file: 无法读取 missing.txt：No such file or directory"),
    ("channels.w3.card: expected true or false", "channels.w3.card: 应为 true 或 false"),
    ("channels.w4.url_file: empty.txt is empty", "channels.w4.url_file: empty.txt 为空"),
    ("channels.w4.token_file: latin1.txt is not UTF-8 text", "channels.w4.token_file: latin1.txt 不是 UTF-8 文本"),
    ("channels.w5.url: missing: give url_file, url_env or url",
     "channels.w5.url: 缺少此项：请给出 url_file、url_env 或 url"),
    ("channels.m1.host: expected the SMTP server's name or address", "channels.m1.host: 应为 SMTP 服务器的名称或地址"),
    ("channels.m1.port: expected a port number 1-65535", "channels.m1.port: 应为 1–65535 之间的端口号"),
    ("channels.m1.username: expected a user name", "channels.m1.username: 应为用户名"),
    ("channels.m1.from: expected a sender address such as Wardround <wardround@example.cn>",
     "channels.m1.from: 应为发件人地址，如 Wardround <wardround@example.cn>"),
    ("channels.m1.to: expected one or more recipient addresses", "channels.m1.to: 应为一个或多个收件人地址"),
    ("channels.m1.ca_file: expected the path of a PEM file with the CA certificates",
     "channels.m1.ca_file: 应为存放 CA 证书的 PEM 文件路径"),
    ("channels.m1.security: refusing to send a password without TLS: use starttls or ssl",
     "channels.m1.security: 拒绝在没有 TLS 的连接上发送密码：请用 starttls 或 ssl"),
    ("channels.m2.security: expected starttls, ssl or none", "channels.m2.security: 应为 starttls、ssl 或 none"),
    ("channels.m2.username: a password needs a username", "channels.m2.username: 给出密码时须同时给出 username"),
    ("routes[0]: expected a mapping with channels and filters", "routes[0]: 应为包含 channels 和筛选条件的映射"),
    ("routes[1].colour: unknown key (expected channels, sites, min_level, events, language)",
     "routes[1].colour: 未知的键（可用的键：channels, sites, min_level, events, language）"),
    ("routes[1].channels: no channel named 'nowhere'", "routes[1].channels: 没有名为 'nowhere' 的通知渠道"),
    ("routes[1].sites: expected site names or glob patterns", "routes[1].sites: 应为站点名称或通配模式"),
    ("routes[1].min_level: expected a level 1-4 (1 is the most severe)",
     "routes[1].min_level: 应为故障级别 1–4（一级最严重）"),
    ("routes[1].events: expected events among opened, reopened, acknowledged, escalated, breached, resolved, "
     "closed, complaint",
     "routes[1].events: 应为以下事件：opened, reopened, acknowledged, escalated, breached, resolved, closed, "
     "complaint"),
    ("routes[1].language: expected zh or en", "routes[1].language: 应为 zh 或 en"),
    ("routes[2].channels: no channel named '<x>'", "routes[2].channels: 没有名为 '<x>' 的通知渠道"),
    ("routes[3].channels: expected one or more channel names", "routes[3].channels: 应为一个或多个通知渠道名称"),
    ("retry.max_age: expected a duration such as 30s, 1h or 3d", "retry.max_age: 应为时长，如 30s、1h 或 3d"),
    ("retry.jitter: unknown key (expected first, cap, max_age)",
     "retry.jitter: 未知的键（可用的键：first, cap, max_age）"),
    ("retry.cap: must not be shorter than retry.first", "retry.cap: 不能短于 retry.first"),
    ("timezone: unknown time zone 'Mars/Olympus' (expected a name such as Asia/Shanghai)",
     "timezone: 未知的时区 'Mars/Olympus'（应为时区名称，如 Asia/Shanghai）"),
    ("ticket_link: expected the URL of a ticket's page with {id} in it, such as "
     "https://wardround.example-hospital.cn/tickets/{id} (got 'ftp://tickets')",
     "ticket_link: 应为含 {id} 的故障工单页面 URL，如 https://wardround.example-hospital.cn/tickets/{id}"
     "（收到 'ftp://tickets'）"),
    ("poll: expected a duration up to 5m such as 5s", "poll: 应为不超过 5m 的时长，如 5s"),
]
SHAPES = [  # the section's parts of the wrong shape, and the section itself
    ("channels: expected a mapping of channel name to settings", "channels: 应为通知渠道名称到其设置的映射"),
    ("routes: expected a list of routes", "routes: 应为通知路由的列表"),
    ("retry: expected a mapping with first, cap, max_age", "retry: 应为包含 first, cap, max_age 的映射"),
]


def test_the_notifications_sections_problems_are_said_in_chinese_and_in_english_as_before(tmp_path: Path) -> None:
    (tmp_path / "n.yaml").write_text(NOTIFICATIONS)
    (tmp_path / "shape.yaml").write_text("notifications:\n  channels: [a]\n  routes: {a: 1}\n  retry: [a]\n")
    (tmp_path / "top.yaml").write_text("notifications: [a]\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes(b"\xff\xfe\n")
    for lang, env in ((1, ZH), (0, None)):
        runs = [cli("token", "list", "--config", name, cwd=tmp_path, env=env)
                for name in ("n.yaml", "shape.yaml", "top.yaml")]
        assert [run.returncode for run in runs] == [2, 2, 2], [run.stderr for run in runs]
        assert _lines(runs[0].stderr) == [N + line[lang] for line in NOTIFICATION_LINES]
        assert _lines(runs[1].stderr) == [N.replace("n.yaml", "shape.yaml") + line[lang] for line in SHAPES]
        assert _lines(runs[2].stderr) == ["top.yaml: notifications: " + ("应为包含 channels 和 routes 的映射" if lang
                                          else "expected a mapping with channels and routes")]


RARE_POLICY = """\
default:
  levels:
    - {name: {fr: x, zh_CN: ""}, clock: always, response: 4h, resolve: 2h}
    - 7
    - {name: {}, response: 1h, resolve: 2h}
    - {name: 5, response: 1h, resolve: 2h}
  business_hours: {timezone: Mars/Olympus, days: [funday], hours: "17:00-08:00"}
  holidays: hol.yaml
  key_factor: 2
  rules:
    - {check: "", item: 3, open: [x], flap_window: 5, flap_changes: 6}
    - {check: disk, open: {OK: 1, CRITICAL: 9}}
    - nope
  maintenance:
    - {hosts: [], cron: "bad", start: x}
    - {start: yesterday}
    - {start: "2026-11-28T22:00:00+08:00", end: "2026-11-28T21:00:00+08:00"}
    - 5
  records: {customer: "", systems: HIS, language: fr, schedule: {daily: "bad cron", yearly: x}}
  restore_drills: {every: hourly}
  followup: {tickets: some, account_manager: "", clock: always}
  onsite: 5
  agent_silent: 5
sites:
  a:
    restore_drills: 5
    followup: 5
    records: 5
    business_hours: 5
    rules: 5
    maintenance: 5
    holidays: ""
  b: 5
  c:
    holidays: holmap.yaml
    records: {schedule: 5}
    levels: 5
"""
POLICY_LINES = [  # (English as it always was, Chinese); {dir}: the holiday files' folder
    ('policy.yaml: default.levels[0].name.fr: unknown language (expected zh_CN or en)',
     'policy.yaml: default.levels[0].name.fr: 未知的语言（应为 zh_CN 或 en）'),
    ('policy.yaml: default.levels[0].name.zh_CN: expected a name of 1-64 characters such as "一般故障"',
     'policy.yaml: default.levels[0].name.zh_CN: 应为 1–64 个字符的名称，如 "一般故障"'),
    ("policy.yaml: default.levels[0].clock: expected 24x7 or business (got 'always')",
     "policy.yaml: default.levels[0].clock: 应为 24x7 或 business（收到 'always'）"),
    ('policy.yaml: default.levels[0].resolve: expected a resolution time no shorter than the response time',
     'policy.yaml: default.levels[0].resolve: 解决时间不应短于响应时间'),
    ('policy.yaml: default.levels[1]: expected a mapping with name, response, resolve, clock',
     'policy.yaml: default.levels[1]: 应为包含 name, response, resolve, clock 的映射'),
    ('policy.yaml: default.levels[2].name: expected a name in zh_CN and/or en',
     'policy.yaml: default.levels[2].name: 应给出 zh_CN 和／或 en 的名称'),
    ('policy.yaml: default.levels[3].name: expected a name such as "system down", or {zh_CN: 系统瘫痪, en: '
     'system down}',
     'policy.yaml: default.levels[3].name: 应为名称，如 "system down"，或 {zh_CN: 系统瘫痪, en: system down}'),
    ('{dir}/hol.yaml: holidays[1]: expected a date like 2026-10-01 or a range 2026-10-01..2026-10-07 (range '
     'runs backwards or is longer than a year)',
     '{dir}/hol.yaml: holidays[1]: 应为日期，如 2026-10-01，或日期范围，如 2026-10-01..2026-10-07（范围的结'
     '束早于开始，或长于一年）'),
    ('{dir}/hol.yaml: holidays[2]: expected a date like 2026-10-01 or a range 2026-10-01..2026-10-07 '
     "(Invalid isoformat string: 'nope')",
     '{dir}/hol.yaml: holidays[2]: 应为日期，如 2026-10-01，或日期范围，如 2026-10-01..2026-10-07（Invalid '
     "isoformat string: 'nope'）"),
    ('{dir}/hol.yaml: workdays: 2026-10-01 is also listed as a holiday',
     '{dir}/hol.yaml: workdays: 2026-10-01 也列为了节假日'),
    ('policy.yaml: default.business_hours.timezone: expected an IANA time zone such as Asia/Shanghai (got '
     "'Mars/Olympus')",
     "policy.yaml: default.business_hours.timezone: 应为 IANA 时区，如 Asia/Shanghai（收到 'Mars/Olympus'）"),
    ('policy.yaml: default.business_hours.days: expected a list of weekdays such as [mon, tue, wed, thu, '
     "fri] (got ['funday'])",
     'policy.yaml: default.business_hours.days: 应为星期几的列表，如 [mon, tue, wed, thu, fri]（收到 '
     "['funday']）"),
    ('policy.yaml: default.business_hours.hours: expected working hours like "08:30-17:30" or '
     '"08:00-12:00,13:30-17:30" in order (got \'17:00-08:00\')',
     'policy.yaml: default.business_hours.hours: 应为按先后排列的工作时间，如 "08:30-17:30" 或 "08:00-12:00,'
     '13:30-17:30"（收到 \'17:00-08:00\'）'),
    ("policy.yaml: default.rules[0].check: expected a name or glob such as backup_* (got '')",
     "policy.yaml: default.rules[0].check: 应为名称或通配模式，如 backup_*（收到 ''）"),
    ('policy.yaml: default.rules[0].item: expected a name or glob such as backup_* (got 3)',
     'policy.yaml: default.rules[0].item: 应为名称或通配模式，如 backup_*（收到 3）'),
    ('policy.yaml: default.rules[0].open: expected a mapping of status to level, e.g. {CRITICAL: 2, '
     'WARNING: 3}, or none',
     'policy.yaml: default.rules[0].open: 应为状态到故障级别的映射，如 {CRITICAL: 2, WARNING: 3}，或 none'),
    ('policy.yaml: default.rules[0].flap_changes: expected fewer changes than flap_window (5)',
     'policy.yaml: default.rules[0].flap_changes: 变化次数应少于 flap_window（5）'),
    ('policy.yaml: default.rules[1].open.OK: expected WARNING, CRITICAL or UNKNOWN',
     'policy.yaml: default.rules[1].open.OK: 应为 WARNING、CRITICAL 或 UNKNOWN'),
    ('policy.yaml: default.rules[1].open.CRITICAL: expected an integer 1-3 (got 9)',
     'policy.yaml: default.rules[1].open.CRITICAL: 应为 1–3 之间的整数（收到 9）'),
    ('policy.yaml: default.rules[2]: expected a mapping {check, item, open, after, recover_after}',
     'policy.yaml: default.rules[2]: 应为映射 {check, item, open, after, recover_after}'),
    ('policy.yaml: default.key_factor: expected a number above 0 and at most 1, e.g. 0.5 (got 2)',
     'policy.yaml: default.key_factor: 应为大于 0、至多为 1 的数，如 0.5（收到 2）'),
    ('policy.yaml: default.maintenance[0].hosts: expected a list of host names or globs (default ["*"], '
     'every host)',
     'policy.yaml: default.maintenance[0].hosts: 应为主机名或通配模式的列表（默认 ["*"]，即所有主机）'),
    ('policy.yaml: default.maintenance[0]: give start and end (one-off) or cron and duration (recurring), '
     'not both',
     'policy.yaml: default.maintenance[0]: start 和 end（一次性）与 cron 和 duration（周期性）只能给一组'),
    ('policy.yaml: default.maintenance[0].cron: expected a cron expression such as "0 2 * * 0" (expected 5 '
     'fields (minute hour day month weekday), got 1)',
     'policy.yaml: default.maintenance[0].cron: 应为 cron 表达式，如 "0 2 * * 0"（应为 5 段（分 时 日 月 '
     '星期），收到 1 段）'),
    ('policy.yaml: default.maintenance[1]: expected start and end times such as 2026-11-28T22:00:00+08:00 '
     '(or cron and duration for a recurring window)',
     'policy.yaml: default.maintenance[1]: 应为 start 和 end 时间，如 2026-11-28T22:00:00+08:00（周期性的维'
     '护窗口用 cron 和 duration）'),
    ('policy.yaml: default.maintenance[2].end: expected an end after the start',
     'policy.yaml: default.maintenance[2].end: 结束时间应晚于开始时间'),
    ('policy.yaml: default.maintenance[3]: expected a mapping {hosts, start, end} or {hosts, cron, duration}',
     'policy.yaml: default.maintenance[3]: 应为映射 {hosts, start, end} 或 {hosts, cron, duration}'),
    ('policy.yaml: default.agent_silent: expected {grace: 15m, level: 2} or off',
     'policy.yaml: default.agent_silent: 应为 {grace: 15m, level: 2} 或 off'),
    ('policy.yaml: default.onsite: expected {due: 24h, clock: 24x7|business}',
     'policy.yaml: default.onsite: 应为 {due: 24h, clock: 24x7|business}'),
    ('policy.yaml: default.records.customer: expected a name of 1-100 characters',
     'policy.yaml: default.records.customer: 应为 1–100 个字符的名称'),
    ("policy.yaml: default.records.systems: expected a list of system names such as [HIS, LIS] (got 'HIS')",
     "policy.yaml: default.records.systems: 应为系统名称的列表，如 [HIS, LIS]（收到 'HIS'）"),
    ("policy.yaml: default.records.language: expected zh_CN or en (got 'fr')",
     "policy.yaml: default.records.language: 应为 zh_CN 或 en（收到 'fr'）"),
    ('policy.yaml: default.records.schedule.daily: expected a cron expression such as "30 7 * * *" or off '
     '(expected 5 fields (minute hour day month weekday), got 2)',
     'policy.yaml: default.records.schedule.daily: 应为 cron 表达式，如 "30 7 * * *"，或 off（应为 5 段（分 '
     '时 日 月 星期），收到 2 段）'),
    ('policy.yaml: default.records.schedule.yearly: unknown kind (expected daily, weekly, monthly, '
     'quarterly, annual)',
     'policy.yaml: default.records.schedule.yearly: 未知的记录类型（可用的类型：daily, weekly, monthly, '
     'quarterly, annual）'),
    ('policy.yaml: default.restore_drills.every: expected weekly, monthly, quarterly, yearly or off (got '
     "'hourly')",
     'policy.yaml: default.restore_drills.every: 应为 weekly, monthly, quarterly, yearly 或 off（收到 '
     "'hourly'）"),
    ("policy.yaml: default.followup.clock: expected 24x7 or business (got 'always')",
     "policy.yaml: default.followup.clock: 应为 24x7 或 business（收到 'always'）"),
    ("policy.yaml: default.followup.tickets: expected handled, all, off (got 'some')",
     "policy.yaml: default.followup.tickets: 应为 handled, all, off（收到 'some'）"),
    ('policy.yaml: default.followup.account_manager: expected a name of 1-64 characters',
     'policy.yaml: default.followup.account_manager: 应为 1–64 个字符的名称'),
    ('policy.yaml: sites.a.holidays: expected the path of a holiday calendar file (YAML with holidays: and '
     'workdays:)',
     'policy.yaml: sites.a.holidays: 应为节假日日历文件的路径（含 holidays: 和 workdays: 的 YAML）'),
    ('policy.yaml: sites.a.business_hours: expected a mapping with timezone, days and hours',
     'policy.yaml: sites.a.business_hours: 应为包含 timezone、days 和 hours 的映射'),
    ('policy.yaml: sites.a.rules: expected a list of rules {check, item, open: {CRITICAL: 2}, after, '
     'recover_after}',
     'policy.yaml: sites.a.rules: 应为规则列表 {check, item, open: {CRITICAL: 2}, after, recover_after}'),
    ('policy.yaml: sites.a.maintenance: expected a list of windows {hosts, start, end} or {hosts, cron, '
     'duration}',
     'policy.yaml: sites.a.maintenance: 应为维护窗口的列表 {hosts, start, end} 或 {hosts, cron, duration}'),
    ('policy.yaml: sites.a.records: expected a mapping with customer, systems, language, inspector, schedule',
     'policy.yaml: sites.a.records: 应为包含 customer, systems, language, inspector, schedule 的映射'),
    ('policy.yaml: sites.a.restore_drills: expected {every: weekly|monthly|quarterly|yearly} or off',
     'policy.yaml: sites.a.restore_drills: 应为 {every: weekly|monthly|quarterly|yearly} 或 off'),
    ('policy.yaml: sites.a.followup: expected {within: 3wd, clock: business, tickets: handled, '
     'account_manager: NAME, complaint_level: 3}',
     'policy.yaml: sites.a.followup: 应为 {within: 3wd, clock: business, tickets: handled, account_manager: '
     'NAME, complaint_level: 3}'),
    ('policy.yaml: sites.b: expected a mapping of policy settings',
     'policy.yaml: sites.b: 应为策略设置的映射'),
    ('policy.yaml: sites.c.levels: expected a list of 3 or 4 levels, the most severe first, each {name, '
     'response, resolve, clock: 24x7|business}',
     'policy.yaml: sites.c.levels: 应为 3 或 4 个故障级别的列表，最严重的在前，每级为 {name, response, '
     'resolve, clock: 24x7|business}'),
    ('policy.yaml: sites.c.holidays: {dir}/holmap.yaml: expected a mapping with holidays: and workdays: '
     'lists',
     'policy.yaml: sites.c.holidays: {dir}/holmap.yaml：应为含 holidays: 和 workdays: 列表的映射'),
    ('policy.yaml: sites.c.records.schedule: expected a mapping of kind to cron or off, e.g. {daily: "30 7 '
     '* * *"}',
     'policy.yaml: sites.c.records.schedule: 应为记录类型到 cron 或 off 的映射，如 {daily: "30 7 * * *"}'),
]


def test_a_policy_files_rarer_problems_are_said_in_chinese_and_in_english_as_before(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(RARE_POLICY)
    (tmp_path / "hol.yaml").write_text('holidays: [2026-10-01, "2026-10-05..2026-10-01", nope]\n'
                                       "workdays: [2026-10-01]\n")
    (tmp_path / "holmap.yaml").write_text("[1]\n")
    where = str(tmp_path.resolve())
    for lang, env in ((1, ZH), (0, None)):
        run = cli("policy", "check", "policy.yaml", cwd=tmp_path, env=env)
        assert run.returncode == 2
        assert _lines(run.stderr) == [line[lang].replace("{dir}", where) for line in POLICY_LINES]
