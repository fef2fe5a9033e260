#!/usr/bin/env bash
# Install the Wardround agent and/or collector on Debian/Ubuntu/RHEL with systemd.
#
#   sudo deploy/install-linux.sh --agent       # this server reports to a collector
#   sudo deploy/install-linux.sh --collector   # this server runs the collector
#   sudo deploy/install-linux.sh --agent --collector
#
# Idempotent: run it again to upgrade (the venv is updated, configs are never overwritten).
# What it does, with the least privilege each part needs:
#   * a system user per service (wardround / wardround-collector), no login shell, no home;
#   * the project into a venv under /opt/wardround (root-owned, read-only to the services);
#   * /etc/wardround (root:<group> 0750) with an example config if none exists;
#   * /var/lib/wardround (agent spool) and /var/lib/wardround-collector (SQLite DB), 0750;
#   * the collector's signing key /etc/wardround/collector.key (0600, wardround-collector) if none
#     exists: it signs records and the audit log; copy the same file to every collector of a database;
#   * the systemd units from deploy/systemd, enabled but only started when a config exists.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${WARDROUND_PREFIX:-/opt/wardround}"
PYTHON="${PYTHON:-python3}"
AGENT=0
COLLECTOR=0

usage() {
    echo "usage: $0 [--agent] [--collector]   (at least one)" >&2
    exit 2
}

for arg in "$@"; do
    case "$arg" in
        --agent) AGENT=1 ;;
        --collector) COLLECTOR=1 ;;
        -h|--help) usage ;;
        *) echo "unknown option: $arg" >&2; usage ;;
    esac
done
[ "$AGENT" = 1 ] || [ "$COLLECTOR" = 1 ] || usage
if [ "$(id -u)" != 0 ]; then
    echo "run as root (sudo): it creates users, /opt/wardround and systemd units" >&2
    exit 1
fi

make_user() {  # make_user NAME
    if ! id -u "$1" >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1"
    fi
}

extras=""
[ "$COLLECTOR" = 1 ] && extras="collector"
install -d -m 0755 -o root -g root "$PREFIX"
if [ ! -x "$PREFIX/venv/bin/python" ]; then
    "$PYTHON" -m venv "$PREFIX/venv"
fi
"$PREFIX/venv/bin/pip" install --quiet --upgrade pip
if [ -n "$extras" ]; then
    "$PREFIX/venv/bin/pip" install --quiet --upgrade "${SRC}[${extras}]"
else
    "$PREFIX/venv/bin/pip" install --quiet --upgrade "$SRC"
fi
install -d -m 0755 "$PREFIX/docs"
install -m 0644 "$SRC/docs/deploy.md" "$PREFIX/docs/deploy.md"

install_unit() {  # install_unit NAME
    install -m 0644 "$SRC/deploy/systemd/$1.service" "/etc/systemd/system/$1.service"
}

if [ "$AGENT" = 1 ]; then
    make_user wardround
    install -d -m 0750 -o root -g wardround /etc/wardround
    install -d -m 0750 -o wardround -g wardround /var/lib/wardround
    if [ ! -e /etc/wardround/agent.yaml ]; then
        install -m 0640 -o root -g wardround "$SRC/deploy/agent.linux.example.yaml" /etc/wardround/agent.yaml.example
        echo "agent: edit /etc/wardround/agent.yaml (example: /etc/wardround/agent.yaml.example)," \
             "put the token in /etc/wardround/agent.token (0640 root:wardround)"
    fi
    install_unit wardround-agent
fi

if [ "$COLLECTOR" = 1 ]; then
    make_user wardround-collector
    install -d -m 0755 -o root -g root /etc/wardround
    install -d -m 0750 -o wardround-collector -g wardround-collector /var/lib/wardround-collector
    if [ ! -e /etc/wardround/collector.yaml ]; then
        install -m 0640 -o root -g wardround-collector "$SRC/deploy/collector.example.yaml" \
            /etc/wardround/collector.yaml
    fi
    if [ ! -e /etc/wardround/collector.key ]; then
        "$PREFIX/venv/bin/wardround-collector" key create --key-file /etc/wardround/collector.key
        chown wardround-collector:wardround-collector /etc/wardround/collector.key
        echo "collector: signing key made; with several collectors, copy /etc/wardround/collector.key" \
             "(mode 0600, owner wardround-collector) to each of them before starting them"
    fi
    install_unit wardround-collector
fi

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if [ "$COLLECTOR" = 1 ]; then
        systemctl enable --now wardround-collector.service
    fi
    if [ "$AGENT" = 1 ]; then
        systemctl enable wardround-agent.service
        if [ -e /etc/wardround/agent.yaml ]; then
            systemctl restart wardround-agent.service
        fi
    fi
else
    echo "systemd is not running here: units installed in /etc/systemd/system, not started"
fi
echo "done: $PREFIX/venv/bin/wardround-agent, $PREFIX/venv/bin/wardround-collector"
