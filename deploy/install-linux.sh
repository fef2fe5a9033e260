#!/usr/bin/env bash
# Install the Wardround agent and/or collector on Debian/Ubuntu/RHEL with systemd.
#
#   sudo deploy/install-linux.sh --agent       # this server reports to a collector
#   sudo deploy/install-linux.sh --collector   # this server runs the collector
#   sudo deploy/install-linux.sh --agent --collector
#   sudo deploy/install-linux.sh --agent --wheels /media/usb/wheelhouse/linux   # no internet: `make wheelhouse`
#
# Idempotent: run it again to upgrade (the venv is updated, configs are never overwritten).
# What it does, with the least privilege each part needs:
#   * a system user per service (wardround / wardround-collector), no login shell, no home;
#   * the project into a venv under /opt/wardround (root-owned, read-only to the services);
#   * /etc/wardround (root:wardround 0750 on an agent-only server; root:root 0755 where the collector is
#     installed, whose config and key are 0640/0600 of their own) with an example config if none exists;
#   * /var/lib/wardround (agent spool) and /var/lib/wardround-collector (SQLite DB), 0750;
#   * the collector's signing key /etc/wardround/collector.key (0600, wardround-collector) if none
#     exists: it signs records and the audit log; copy the same file to every collector of a database;
#   * the systemd units from deploy/systemd, enabled but only started when a config exists.
# Then, per agent server, two commands (README "Roll out to a site"):
#   sudo /opt/wardround/venv/bin/wardround-agent enrol --url URL --key KEY --config /etc/wardround/agent.yaml \
#        --user wardround --spool /var/lib/wardround/spool.db
#   sudo systemctl restart wardround-agent
# The token file rule (one, everywhere): owned by the agent's user, mode 0600 (enrol writes it so).
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${WARDROUND_PREFIX:-/opt/wardround}"
PYTHON="${PYTHON:-python3}"
AGENT=0
COLLECTOR=0
WHEELS=""

usage() {
    cat <<EOF
usage: $0 [--agent] [--collector] [--wheels DIR]   (at least one of --agent, --collector)
  --agent        install the agent (user wardround, /etc/wardround, /var/lib/wardround, the unit)
  --collector    install the collector (user wardround-collector, its database directory, key, unit)
  --wheels DIR   install offline from a wheelhouse (make wheelhouse: DIR is its linux/ folder);
                 nothing is downloaded
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --agent) AGENT=1 ;;
        --collector) COLLECTOR=1 ;;
        --wheels)
            [ $# -ge 2 ] || { echo "--wheels needs a directory" >&2; usage >&2; exit 2; }
            WHEELS="$2"; shift ;;
        --wheels=*) WHEELS="${1#--wheels=}" ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[ "$AGENT" = 1 ] || [ "$COLLECTOR" = 1 ] || { usage >&2; exit 2; }
if [ -n "$WHEELS" ]; then
    if [ ! -d "$WHEELS" ]; then
        echo "--wheels $WHEELS: no such directory" >&2; exit 2
    fi
    if ! compgen -G "$WHEELS/wardround-*.whl" >/dev/null; then
        echo "--wheels $WHEELS: no wardround-*.whl in it (make wheelhouse writes wheelhouse/linux)" >&2; exit 2
    fi
fi
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
if [ -n "$WHEELS" ]; then  # offline: only what the wheelhouse holds
    what="wardround"
    [ -n "$extras" ] && what="wardround[${extras}]"
    "$PREFIX/venv/bin/pip" install --quiet --upgrade --no-index --find-links "$WHEELS" "$what"
else
    "$PREFIX/venv/bin/pip" install --quiet --upgrade pip
    if [ -n "$extras" ]; then
        "$PREFIX/venv/bin/pip" install --quiet --upgrade "${SRC}[${extras}]"
    else
        "$PREFIX/venv/bin/pip" install --quiet --upgrade "$SRC"
    fi
fi
install -d -m 0755 "$PREFIX/docs"
install -m 0644 "$SRC/docs/deploy.md" "$PREFIX/docs/deploy.md"

install_unit() {  # install_unit NAME
    install -m 0644 "$SRC/deploy/systemd/$1.service" "/etc/systemd/system/$1.service"
}

if [ "$AGENT" = 1 ]; then
    make_user wardround
    if id -u wardround-collector >/dev/null 2>&1; then
        # the collector's config and key live here too (--collector ran before): 0750 root:wardround would
        # lock its user out, and it would start on the default database
        install -d -m 0755 -o root -g root /etc/wardround
    else
        install -d -m 0750 -o root -g wardround /etc/wardround
    fi
    install -d -m 0750 -o wardround -g wardround /var/lib/wardround
    if [ ! -e /etc/wardround/agent.yaml ]; then
        install -m 0640 -o root -g wardround "$SRC/deploy/agent.linux.example.yaml" /etc/wardround/agent.yaml.example
        echo "agent: enrol it: sudo $PREFIX/venv/bin/wardround-agent enrol --url URL --key KEY" \
             "--config /etc/wardround/agent.yaml --user wardround --spool /var/lib/wardround/spool.db;" \
             "then: sudo systemctl restart wardround-agent (or write agent.yaml by hand from" \
             "/etc/wardround/agent.yaml.example, the token in /etc/wardround/agent.token: owner wardround, mode 0600)"
    fi
    install_unit wardround-agent
    # the site relay (docs/deploy.md): the same package; installed, enabled only where relay.yaml is written
    install -m 0640 -o root -g wardround "$SRC/deploy/relay.example.yaml" /etc/wardround/relay.yaml.example
    install_unit wardround-relay
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
    install_unit wardround-import  # the file ferry's watched import folder (enable it where bundles arrive)
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
