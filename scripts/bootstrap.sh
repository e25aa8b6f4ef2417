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
#   4. The project's own virtual environment ($PODLAB_VENV, default .venv in the
#      checkout), made from python3 and holding the project, editable, with its
#      dev extras: pip install -e '.[dev]'. Nothing goes into the system's
#      site-packages. podctl and podlab are linked into /usr/local/bin.
#   5. podlab-nsexec (nodeagent/nsexec.c, static) in /usr/local/bin: the agent's
#      exec probes and hooks enter containers with it instead of the engine.
#   6. The offline image kit (compose/images/build.sh).
#
# Environment knobs:
#   PODLAB_SKIP_KIT=1       skip step 6
#   PODLAB_SKIP_PIP=1       skip step 4
#   PODLAB_VENV             the venv (default: .venv in the checkout; scripts/venv.sh)
#   PODLAB_PYTHON           the interpreter the venv is made from (default python3)
#   PODLAB_LINK_BIN=0       do not link podctl and podlab into /usr/local/bin
#   PODLAB_DEBIAN_MIRROR    default http://deb.debian.org/debian
#   PODLAB_DOCKERD_TIMEOUT  seconds to wait for dockerd (default 60)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR=/var/lib/podlab
BIN_DIR=/usr/local/bin
# shellcheck source=scripts/venv.sh
. "$ROOT/scripts/venv.sh"
# The interpreter the venv is made from. Resolved to the base interpreter: run from inside the
# activated venv (run-tests.sh's steps, lab.sh from a test), python3 is the venv's own.
BASE_PY="$("${PODLAB_PYTHON:-python3}" -c 'import sys; print(getattr(sys, "_base_executable", "") or sys.executable)' 2>/dev/null \
    || echo "${PODLAB_PYTHON:-python3}")"
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

# The venv needs venv and ensurepip: Debian's python3 has them only with python3-venv.
if ! "$BASE_PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    APT_PACKAGES+=(python3 python3-venv)
fi
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
venv_base() {
    # What the venv is made from: a venv outlives no change of its base interpreter.
    "$BASE_PY" -c 'import sys; print(sys.base_prefix, sys.version)'
}

install_stamp() {
    # What the editable install depends on: the checkout and pyproject.toml (dependencies,
    # entry points). Kept inside the venv, so a deleted venv takes its stamp with it.
    { echo "$ROOT"; cat "$ROOT/pyproject.toml"; } | sha256sum | cut -d' ' -f1
}

editable_here() {
    # True when the venv's podlab distribution is an editable install of this checkout.
    # From /: in the checkout, its podlab.egg-info would answer instead.
    (cd / && "$VENV_PY" - "$ROOT") <<'EOF' 2>/dev/null
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

link_console_scripts() {
    # podctl and podlab on every user's PATH without activating the venv. A symlink another
    # checkout's bootstrap made is taken over (the last bootstrap wins); a real file is left.
    local name target link found
    for name in podctl podlab; do
        target="$PODLAB_VENV/bin/$name"
        link="$BIN_DIR/$name"
        if [ -L "$link" ] || [ ! -e "$link" ]; then
            [ "$(readlink "$link" 2>/dev/null)" = "$target" ] || ln -sfn "$target" "$link"
        else
            say "note: $link is not a symlink; left as it is"
        fi
        found="$(command -v "$name" 2>/dev/null || true)"
        if [ "$found" != "$link" ] && [ "$found" != "$target" ]; then
            say "note: '$name' on PATH is ${found:-nothing}, not $link;" \
                ". $PODLAB_VENV/bin/activate puts this checkout's first"
        fi
    done
}

if [ "${PODLAB_SKIP_PIP:-0}" = 1 ]; then
    say "venv and pip install skipped (PODLAB_SKIP_PIP=1)"
else
    BASE="$(venv_base)" || die "$BASE_PY does not run"
    if [ -x "$VENV_PY" ] && [ "$(cat "$PODLAB_VENV/.podlab-base" 2>/dev/null)" = "$BASE" ] \
        && "$VENV_PY" -c '' 2>/dev/null; then
        :
    else
        say "creating the project venv $PODLAB_VENV ($BASE_PY -m venv)"
        case "$BASE_PY" in
            "$PODLAB_VENV"/*) die "$BASE_PY is inside $PODLAB_VENV: set PODLAB_PYTHON to a base python3" ;;
        esac
        rm -rf "$PODLAB_VENV"
        "$BASE_PY" -m venv "$PODLAB_VENV"
        echo "$BASE" > "$PODLAB_VENV/.podlab-base"
    fi
    WANT="$(install_stamp)"
    if [ "$(cat "$PODLAB_VENV/.podlab-stamp" 2>/dev/null)" = "$WANT" ] && editable_here; then
        say "podlab installed in $PODLAB_VENV (editable, up to date)"
    else
        say "pip install -e '.[dev]' into $PODLAB_VENV"
        (cd "$ROOT" && "$VENV_PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
            -e '.[dev]' </dev/null)
        echo "$WANT" > "$PODLAB_VENV/.podlab-stamp"
    fi
    if [ "${PODLAB_LINK_BIN:-1}" = 1 ]; then
        link_console_scripts
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
