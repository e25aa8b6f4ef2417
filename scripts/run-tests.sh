#!/usr/bin/env bash
# podlab's one test command (CI runs exactly this through .ci/run):
#
#   scripts/run-tests.sh [PYTEST_ARGS...]
#
# 1. scripts/bootstrap.sh: Debian packages, Compose v2, a Docker engine, the
#    project's venv (.venv, or $PODLAB_VENV: pip install -e '.[dev]') and the
#    offline image kit. Every later step runs in that venv, as `. .venv/bin/activate`
#    would: its python, its console scripts and its etcd first on PATH;
# 2. python proto/generate.py --check   (generated code matches proto/);
# 3. scripts/check_deps.py (every import is a declared dependency), ruff check . and mypy;
# 4. pytest over every tier: unit, integration, e2e, conformance, lab (unit and
#    integration in one session beside e2e and conformance in another, then lab
#    alone), with PODLAB_REQUIRE_ALL_TIERS=1 so a tier whose dependency is missing
#    fails instead of skipping. Extra arguments go to every session (e.g. -k, -x).
#    "No tests collected" (exit 5) is a failure;
# 5. every benchmark listed in bench/__main__.py's BENCHMARKS that has a
#    bench/NAME.py, as a smoke test: python -m bench NAME --quick, whose
#    last stdout line must be a JSON object.
#
# Every step runs even when an earlier one failed (bootstrap excepted); the
# exit status is non-zero when any failed. Environment:
#   PODLAB_SKIP_BENCH=1        skip step 5
#   PODLAB_BENCH_TIMEOUT=600   seconds per benchmark
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
export PODLAB_REQUIRE_ALL_TIERS=1
export PYTHONUNBUFFERED=1

T0=$SECONDS
FAILED=()
step() { printf '\n=== %s (at %ds)\n' "$*" "$((SECONDS - T0))"; }
fail() { printf '=== FAILED: %s\n' "$*"; FAILED+=("$*"); }

step "bootstrap"
if ! bash scripts/bootstrap.sh </dev/null; then
    echo "=== FAILED: bootstrap; nothing else can run"
    exit 1
fi

# The venv, activated: "$PY" for every step, and its bin/ first for whatever they spawn.
# shellcheck source=scripts/venv.sh
. scripts/venv.sh
require_venv
export VIRTUAL_ENV="$PODLAB_VENV" PATH="$PODLAB_VENV/bin:$PATH"
unset PYTHONHOME
PY="$VENV_PY"
echo "python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"

step "proto: generated code is current"
"$PY" proto/generate.py --check || fail "proto/generate.py --check"

step "dependencies: every import is declared"
"$PY" scripts/check_deps.py || fail "scripts/check_deps.py"

step "ruff check ."
"$PY" -m ruff check . || fail "ruff check"

step "mypy"
mapfile -t PACKAGES < <("$PY" scripts/project.py packages)
"$PY" -m mypy "${PACKAGES[@]}" bench scripts/project.py scripts/check_deps.py || fail "mypy"

# The tiers in three pytest sessions. unit+integration (CPU: etcd and simulated nodes) run beside
# e2e+conformance (mostly waiting on containers and probe periods); lab, whose chaos timings want
# the machine to itself, runs after both. Each session has its own --basetemp.
PYTEST_DIR="$(mktemp -d)"
trap 'rm -rf "$PYTEST_DIR"' EXIT

pytest_tiers() {  # NAME MARKERS [PYTEST_ARGS...]: one session, its output in $PYTEST_DIR/NAME.log
    local name="$1" markers="$2"
    shift 2
    "$PY" -m pytest -m "$markers" -p no:cacheprovider --basetemp="$PYTEST_DIR/$name.tmp" "$@" </dev/null \
        >"$PYTEST_DIR/$name.log" 2>&1
    echo "$?" >"$PYTEST_DIR/$name.rc"
}

follow() {  # NAME PID: show NAME's log as it grows, until PID ends
    tail -n +1 -f --pid="$2" "$PYTEST_DIR/$1.log"
}

pytest_verdict() {  # NAME LABEL: fail the step unless the session passed
    local rc
    rc="$(cat "$PYTEST_DIR/$1.rc")"
    case "$rc" in
        0) ;;
        5) [ "$SELECTED" = 1 ] || fail "pytest $2 collected no tests (exit 5)" ;;
        *) fail "pytest $2 (exit $rc)" ;;
    esac
}

# With extra arguments (-k, a path) a session may rightly select nothing; without, that is a failure.
SELECTED=$(($# > 0))
step "pytest: unit and integration, beside e2e and conformance"
pytest_tiers fast "unit or integration" "$@" &
FAST=$!
: >"$PYTEST_DIR/docker.log"
pytest_tiers docker "e2e or conformance" "$@" &
DOCKER=$!
follow docker "$DOCKER"
wait "$FAST" "$DOCKER"
cat "$PYTEST_DIR/fast.log"
pytest_verdict fast "unit or integration"
pytest_verdict docker "e2e or conformance"

step "pytest: lab"
: >"$PYTEST_DIR/lab.log"
pytest_tiers lab "lab" "$@" &
follow lab "$!"
wait
pytest_verdict lab "lab"

if [ "${PODLAB_SKIP_BENCH:-0}" = 1 ]; then
    step "benchmarks skipped (PODLAB_SKIP_BENCH=1)"
elif [ -f bench/__main__.py ]; then
    mapfile -t BENCHES < <("$PY" - <<'EOF'
import importlib
from pathlib import Path
names = getattr(importlib.import_module("bench.__main__"), "BENCHMARKS", ())
for name in names:
    if Path("bench", f"{name}.py").is_file() or Path("bench", name, "__init__.py").is_file():
        print(name)
EOF
    )
    mkdir -p bench/out
    for name in "${BENCHES[@]}"; do
        step "bench smoke: python -m bench $name --quick"
        out="bench/out/smoke-$name.json"
        timeout --kill-after=30 "${PODLAB_BENCH_TIMEOUT:-600}" \
            "$PY" -m bench "$name" --quick </dev/null >"$out.stdout"
        rc=$?
        if [ "$rc" != 0 ]; then
            fail "bench $name --quick (exit $rc)"
        elif ! tail -n 1 "$out.stdout" | "$PY" -c 'import json, sys; assert isinstance(json.loads(sys.stdin.read()), dict)' 2>/dev/null; then
            fail "bench $name --quick: last stdout line is not a JSON object"
        else
            tail -n 1 "$out.stdout" >"$out"
            cut -c1-400 "$out"
        fi
        rm -f "$out.stdout"
    done
fi

echo
status=0
if [ "${#FAILED[@]}" -gt 0 ]; then
    printf '=== run-tests: %d step(s) failed after %ds:\n' "${#FAILED[@]}" "$((SECONDS - T0))"
    printf '===   - %s\n' "${FAILED[@]}"
    status=1
else
    printf '=== run-tests: all steps passed in %ds\n' "$((SECONDS - T0))"
fi
# pytest's own summary lines close the output, for whoever reads the tail.
for name in fast docker lab; do
    [ -f "$PYTEST_DIR/$name.log" ] && grep -E '^=+ .* in [0-9.]+s.* =+$' "$PYTEST_DIR/$name.log" | tail -n 1
done
exit "$status"
