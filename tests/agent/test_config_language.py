"""The agent config's rarer problems (a URL, a proxy and its credentials file, spool sizes, config_every,
batch_size, a crontab, a name given twice, YAML syntax) and enrol's --url/--host/--role/--proxy errors are
said in the reader's language; in English exactly as before. Real ``wardround-agent`` processes."""

from __future__ import annotations

from pathlib import Path

from tests.agent.test_cli import agent
from tests.agent.test_cli_language import ZH

CONFIG = """\
site: central-hospital
spool_max_bytes: lots
config_every: 2s
collector:
  url: https://u:p@collector.example:8480/?x=1
  token_file: token
  proxy: http://proxy.example:3128/path
  proxy_credentials_file: token
  batch_size: 0
checks:
  - {check: disk, cron: [0]}
  - {check: uptime, cron: "0 8 * *"}
  - {check: disk, every: 5m}
"""
EN = [
    "collector.url: expected no user:password@ in the URL: the agent authenticates with token_file "
    "(got 'https://***@collector.example:8480/?***')",
    "collector.proxy: expected a proxy URL without a path, like http://proxy.example:3128 "
    "(got 'http://proxy.example:3128/path')",
    "collector.proxy_credentials_file: expected user:password on one line",
    "collector.batch_size: expected a whole number from 1 to 10000 (got 0)",
    "spool_max_bytes: expected a size like 256MiB, 1GiB or a number of bytes (got 'lots')",
    "config_every: expected a duration of at least 10s like 5m, or off (got '2s')",
    "checks[0].cron: expected a 5-field crontab like \"0 8 * * *\" (minute hour day month weekday) (got [0])",
    "checks[1].cron: expected a 5-field crontab like \"0 8 * * *\": expected 5 fields (minute hour day month weekday), "
    "got 4 (got '0 8 * *')",
    "checks[2].name: 'disk' is already the name of checks[0]; give each instance of the same check its own name:",
]
ZH_LINES = [
    "collector.url: URL 中不应含 user:password@：采集代理用 token_file 认证"
    "（收到 'https://***@collector.example:8480/?***'）",
    "collector.proxy: 代理 URL 不应带路径，如 http://proxy.example:3128（收到 'http://proxy.example:3128/path'）",
    "collector.proxy_credentials_file: 应为一行 user:password",
    "collector.batch_size: 应为 1 到 10000 之间的整数（收到 0）",
    "spool_max_bytes: 应为大小，如 256MiB、1GiB，或字节数（收到 'lots'）",
    "config_every: 应为至少 10s 的时长，如 5m，或 off（收到 '2s'）",
    "checks[0].cron: 应为 5 段的定时表达式，如 \"0 8 * * *\"（分 时 日 月 星期）（收到 [0]）",
    "checks[1].cron: 应为 5 段的定时表达式，如 \"0 8 * * *\"：应为 5 段（分 时 日 月 星期），收到 4 段"
    "（收到 '0 8 * *'）",
    "checks[2].name: 'disk' 已是 checks[0] 的名称；同一检查的每个实例须有自己的名称：",
]


def test_the_rarer_config_problems_and_yaml_syntax_are_said_in_chinese(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("one-word\n")
    token.chmod(0o600)
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(CONFIG)
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("site: [\n")
    for lang, expected, tail in ((ZH, ZH_LINES, "wardround-agent：配置有 9 处错误；未启动任何内容"),
                                 ("C.UTF-8", EN, "wardround-agent: 9 errors in the config; nothing started")):
        done = agent("once", "--config", str(cfg), lang=lang)
        assert done.returncode == 2 and done.stderr.splitlines() == [f"{cfg}: {line}" for line in expected] + [tail]
    zh, en = agent("once", "--config", str(syntax), lang=ZH), agent("once", "--config", str(syntax))
    assert zh.stderr.splitlines()[0] == (f"{syntax}: 第 2 行第 1 列：不是有效的 YAML："
                                         "expected the node content, but found '<stream end>'")
    assert en.stderr.splitlines()[0] == (f"{syntax}: line 2, column 1: not valid YAML: "
                                         "expected the node content, but found '<stream end>'")


def test_enrols_url_host_role_and_proxy_errors_are_said_in_chinese(tmp_path: Path) -> None:
    args = ("enrol", "--url", "ftp://x", "--key", "wre_k", "--host", "a b", "--role", "x y",
            "--proxy", "http://u:p@proxy:3128", "--config", str(tmp_path / "agent.yaml"))
    zh, en = agent(*args, lang=ZH), agent(*args)
    assert zh.returncode == en.returncode == 2
    assert zh.stderr.strip().splitlines()[-1] == (
        "wardround-agent：错误：--url：应为以 http:// 或 https:// 开头的 URL（收到 'ftp://x'）；"
        "--host：应为 1–64 个字母、数字、“.”、“_”或“-”，以字母或数字开头（收到 'a b'）；"
        "--role：应为 1–64 个字母、数字、“.”、“_”或“-”，以字母或数字开头（收到 'x y'）；"
        "--proxy：代理 URL 中不应含 user:password@：请把 user:password 写进 --proxy-credentials-file"
        "（收到 'http://***@proxy:3128'）")
    assert en.stderr.strip().splitlines()[-1] == (
        "wardround-agent: error: --url: expected an http:// or https:// URL (got 'ftp://x'); "
        "--host: expected 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit) (got 'a b'); "
        "--role: expected 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit) (got 'x y'); "
        "--proxy: expected no user:password@ in the proxy URL: put user:password in --proxy-credentials-file "
        "(got 'http://***@proxy:3128')")
