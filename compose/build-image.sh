#!/usr/bin/env bash
# Build podlab/podlab:dev, the image every lab component runs from.
#
#   compose/build-image.sh [--force] [--base IMAGE] [--tag TAG]
#
# 1. `pip wheel` the project (the packages pyproject.toml lists, copied from the
#    checkout) and all its dependencies on the host, with the project venv's pip,
#    into compose/.wheels (the host reaches the package index; builds do not);
# 2. build podlab-nsexec (nodeagent/nsexec.c, static) into compose/.bin;
# 3. `docker build` compose/Dockerfile with BASE_IMAGE (default:
#    podlab/debian:bookworm when the offline kit has it, else python:3.12-slim).
#
# Skipped when podlab/podlab:dev already carries the hash of the current
# sources (pyproject.toml, the packages, compose/Dockerfile, ...) and base
# image, unless --force.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
# shellcheck source=scripts/venv.sh
. "$ROOT/scripts/venv.sh"
TAG="${PODLAB_IMAGE:-podlab/podlab:dev}"
BASE="${PODLAB_BASE_IMAGE:-}"
FORCE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --force) FORCE=1 ;;
        --base) BASE="$2"; shift ;;
        --tag) TAG="$2"; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

T0=$SECONDS
say() { printf '[image %3ds] %s\n' "$((SECONDS - T0))" "$*"; }
die() { printf '[image] ERROR: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "docker engine not answering (run scripts/bootstrap.sh)"
require_venv
# The installed packages, as pyproject.toml lists them: the wheel holds these and only these.
mapfile -t PACKAGES < <("$VENV_PY" "$ROOT/scripts/project.py" packages)
[ "${#PACKAGES[@]}" -gt 0 ] || die "scripts/project.py found no packages in pyproject.toml"
if [ -z "$BASE" ]; then
    if docker image inspect podlab/debian:bookworm >/dev/null 2>&1; then
        BASE=podlab/debian:bookworm
    else
        BASE=python:3.12-slim
    fi
fi
base_id="$(docker image inspect -f '{{.Id}}' "$BASE" 2>/dev/null || echo "$BASE")"

source_hash() {
    (
        cd "$ROOT"
        echo "base=$base_id"
        find pyproject.toml README.md "${PACKAGES[@]}" scripts/project.py \
             compose/Dockerfile compose/.dockerignore compose/healthcheck.py compose/images/mirror.yaml \
             -type f \( -name '*.py' -o -name '*.toml' -o -name '*.md' -o -name '*.yaml' -o -name '*.c' \
             -o -name '*.json' -o -name '*.proto' -o -name 'Dockerfile' -o -name '.dockerignore' \
             -o -name '*.pyi' -o -name '*.typed' \) \
             -not -path '*/__pycache__/*' 2>/dev/null | LC_ALL=C sort | xargs -r sha256sum
    ) | sha256sum | cut -c1-32
}

HASH="$(source_hash)"
if [ "$FORCE" = 0 ] \
    && [ "$(docker image inspect -f '{{index .Config.Labels "io.podlab.source-hash"}}' "$TAG" 2>/dev/null || true)" = "$HASH" ]; then
    say "$TAG is current"
    exit 0
fi

say "building wheels into compose/.wheels"
rm -rf "$HERE/.wheels"
mkdir -p "$HERE/.wheels"
# From a scratch copy of the sources (scripts/project.py copy-sources): setuptools
# would leave build/ and *.egg-info in the checkout, and a stale build/ can
# smuggle deleted modules into the wheel.
SRC="$(mktemp -d)"
trap 'rm -rf "$SRC"' EXIT
"$VENV_PY" "$ROOT/scripts/project.py" copy-sources "$SRC"
if ! "$VENV_PY" -m pip wheel -q --disable-pip-version-check -w "$HERE/.wheels" "$SRC" \
        </dev/null >"$HERE/.wheels/.pip.log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$HERE/.wheels/.pip.log" | tail -n 40 >&2
    die "pip wheel failed"
fi
rm -f "$HERE/.wheels/.pip.log"
command -v gcc >/dev/null || die "gcc missing (apt-get install gcc libc6-dev)"
mkdir -p "$HERE/.bin"
gcc -static -O2 -Wall -Wextra -Werror -o "$HERE/.bin/podlab-nsexec" "$ROOT/nodeagent/nsexec.c"
say "$(find "$HERE/.wheels" -name '*.whl' | wc -l) wheels; docker build $TAG (BASE_IMAGE=$BASE)"

log="$SRC/.docker-build.log"
if ! DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}" docker build \
        --build-arg "BASE_IMAGE=$BASE" --build-arg "SOURCE_HASH=$HASH" \
        -f "$HERE/Dockerfile" -t "$TAG" "$HERE" >"$log" 2>&1; then
    grep -v -e 'legacy builder is deprecated' -e 'BuildKit is currently disabled' \
        -e 'environment-variable' "$log" | tail -n 60 >&2
    die "docker build failed"
fi
# Drop the previous build's image and the build stage once nothing names them.
docker image prune -f --filter label=io.podlab.image >/dev/null 2>&1 || true
say "built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0fMB", $1/1e6}'))"
