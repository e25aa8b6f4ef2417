#!/usr/bin/env bash
# Host setup for podlab on Debian 12 (bookworm), as root. Idempotent: every
# step checks first and is skipped when already done, so a re-run takes a few
# seconds. Safe under CI=true with no stdin.
#
#   1. Debian packages: docker.io debootstrap iproute2 gcc libc6-dev make patch bzip2 xz-utils
#   2. Docker Compose v2 (bookworm only has v1): the static plugin from the
#      trixie suite, fetched with a private apt state so the host's sources
#      stay untouched; installed for both docker clients.
#   3. A running Docker engine (dockerd in the background if none answers).
#   4. The project, editable, with its dev extras: pip install -e '.[dev]'.
#   5. podlab-nsexec (nodeagent/nsexec.c, static) in /usr/local/bin: the agent's
#      exec probes and hooks enter containers with it instead of the engine.
#   6. The offline image kit (compose/images/build.sh).
#
# Environment knobs:
#   PODLAB_SKIP_KIT=1       skip step 6
#   PODLAB_SKIP_PIP=1       skip step 4
#   PODLAB_DEBIAN_MIRROR    default http://deb.debian.org/debian
#   PODLAB_DOCKERD_TIMEOUT  seconds to wait for dockerd (default 60)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR=/var/lib/podlab
MIRROR="${PODLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
APT_PACKAGES=(docker.io debootstrap iproute2 gcc libc6-dev make patch bzip2 xz-utils)
PLUGIN_DIRS=(/usr/libexec/docker/cli-plugins /usr/local/lib/docker/cli-plugins)

export DEBIAN_FRONTEND=noninteractive
T0=$SECONDS

say() { printf '[bootstrap %3ds] %s\n' "$((SECONDS - T0))" "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (needs apt-get and dockerd)"
mkdir -p "$STATE_DIR"

# ---------------------------------------------------------------- 1. apt
missing_packages() {
    local p
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
            || printf '%s\n' "$p"
    done
}

apt_lists_present() {
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

mapfile -t MISSING < <(missing_packages)
if [ "${#MISSING[@]}" -eq 0 ]; then
    say "apt packages present"
else
    say "installing ${MISSING[*]}"
    if ! apt_lists_present; then
        apt-get update -q </dev/null
    fi
    if ! apt-get install -y -q --no-install-recommends "${MISSING[@]}" </dev/null; then
        say "install failed with the current package lists; refreshing them"
        apt-get update -q </dev/null
        apt-get install -y -q --no-install-recommends "${MISSING[@]}" </dev/null
    fi
fi

# ---------------------------------------------------------------- 2. compose v2
compose_ok() {
    local d
    for d in "${PLUGIN_DIRS[@]}"; do
        [ -x "$d/docker-compose" ] || return 1
    done
    "${PLUGIN_DIRS[0]}/docker-compose" version >/dev/null 2>&1
}

install_compose() {
    local trixie="$STATE_DIR/apt-trixie"
    local -a apt_opts=(
        -q
        -o "Dir::Etc::SourceList=$trixie/sources.list"
        -o "Dir::Etc::SourceParts=$trixie/sources.list.d"
        -o "Dir::State::Lists=$trixie/lists"
        -o "Dir::Cache=$trixie/cache"
        -o "Acquire::Languages=none"
        -o "APT::Sandbox::User=root"
    )
    rm -rf "$trixie/download" "$trixie/extract"
    mkdir -p "$trixie/sources.list.d" "$trixie/lists/partial" "$trixie/cache/archives/partial" \
             "$trixie/download" "$trixie/extract"
    echo "deb [signed-by=$KEYRING] $MIRROR trixie main" > "$trixie/sources.list"
    say "fetching docker-compose (v2) from Debian trixie"
    apt-get "${apt_opts[@]}" update </dev/null
    (cd "$trixie/download" && apt-get "${apt_opts[@]}" download docker-compose </dev/null)
    local -a debs
    mapfile -t debs < <(compgen -G "$trixie/download/docker-compose_*.deb" || true)
    [ "${#debs[@]}" -gt 0 ] || die "apt-get download docker-compose produced no .deb"
    local deb="${debs[0]}"
    dpkg -x "$deb" "$trixie/extract"
    local bin="$trixie/extract/usr/libexec/docker/cli-plugins/docker-compose"
    [ -x "$bin" ] || die "no cli plugin inside $deb"
    local d
    for d in "${PLUGIN_DIRS[@]}"; do
        install -D -m 0755 "$bin" "$d/docker-compose"
    done
    rm -rf "$trixie/download" "$trixie/extract" "$trixie/cache/archives"/*.deb
}

if compose_ok; then
    say "docker compose present ($("${PLUGIN_DIRS[0]}/docker-compose" version --short 2>/dev/null))"
else
    install_compose
    compose_ok || die "docker compose plugin does not run"
    say "docker compose $("${PLUGIN_DIRS[0]}/docker-compose" version --short) installed"
fi

# ---------------------------------------------------------------- 3. dockerd
docker_up() { docker info >/dev/null 2>&1; }

if docker_up; then
    say "docker engine answering"
else
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        # A pid file left by a dead daemon makes dockerd refuse to start.
        if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
            rm -f /var/run/docker.pid
        fi
        say "starting dockerd (log: /var/log/dockerd.log)"
        # setsid + own stdio: the daemon outlives this script and holds none of its pipes.
        setsid dockerd </dev/null >>/var/log/dockerd.log 2>&1 &
    else
        say "dockerd running but not answering yet; waiting"
    fi
    deadline=$((SECONDS + ${PODLAB_DOCKERD_TIMEOUT:-60}))
    until docker_up; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 /var/log/dockerd.log >&2 || true
            die "dockerd did not answer within ${PODLAB_DOCKERD_TIMEOUT:-60}s"
        fi
        sleep 0.5
    done
    say "docker engine $(docker version -f '{{.Server.Version}}' 2>/dev/null) up"
fi
docker compose version >/dev/null 2>&1 || die "'docker compose' not available to $(command -v docker)"

# ---------------------------------------------------------------- 4. python project
pip_stamp() {
    # What the editable install depends on: the interpreter, the checkout and
    # pyproject.toml (dependencies, entry points).
    {
        python3 -c 'import sys; print(sys.executable, sys.version)'
        echo "$ROOT"
        cat "$ROOT/pyproject.toml"
    } | sha256sum | cut -d' ' -f1
}

editable_here() {
    # True when the installed podlab distribution is an editable install of this checkout.
    # From /: in the checkout, its podlab.egg-info would answer instead.
    (cd / && python3 - "$ROOT") <<'EOF' 2>/dev/null
import json, sys
from importlib import metadata
try:
    dist = metadata.distribution("podlab")
except metadata.PackageNotFoundError:
    sys.exit(1)
raw = dist.read_text("direct_url.json") or "{}"
url = json.loads(raw)
want = "file://" + sys.argv[1]
sys.exit(0 if url.get("url", "").rstrip("/") == want and url.get("dir_info", {}).get("editable") else 1)
EOF
}

if [ "${PODLAB_SKIP_PIP:-0}" = 1 ]; then
    say "pip install skipped (PODLAB_SKIP_PIP=1)"
else
    STAMP_FILE="$STATE_DIR/pip-$(echo "$ROOT" | sha256sum | cut -c1-16).stamp"
    WANT="$(pip_stamp)"
    if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$WANT" ] && editable_here; then
        say "podlab installed (editable, up to date)"
    else
        say "pip install -e '.[dev]'"
        (cd "$ROOT" && python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e '.[dev]' </dev/null)
        echo "$WANT" > "$STAMP_FILE"
    fi
    # pyenv only exposes new console scripts (podctl, podlab-*) after a rehash.
    if command -v pyenv >/dev/null 2>&1; then
        pyenv rehash >/dev/null 2>&1 || true
    fi
    if ! command -v podctl >/dev/null 2>&1; then
        say "note: podctl is not on PATH; the console scripts are in" \
            "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
    fi
fi

# ---------------------------------------------------------------- 5. podlab-nsexec
NSEXEC=/usr/local/bin/podlab-nsexec
if [ -x "$NSEXEC" ] && [ "$NSEXEC" -nt "$ROOT/nodeagent/nsexec.c" ]; then
    say "podlab-nsexec present"
else
    say "building $NSEXEC"
    gcc -static -O2 -Wall -Wextra -Werror -o "$NSEXEC.new" "$ROOT/nodeagent/nsexec.c"
    mv "$NSEXEC.new" "$NSEXEC"
fi

# ---------------------------------------------------------------- 6. image kit
if [ "${PODLAB_SKIP_KIT:-0}" = 1 ]; then
    say "image kit skipped (PODLAB_SKIP_KIT=1)"
else
    say "image kit"
    bash "$ROOT/compose/images/build.sh"
fi

say "done"
