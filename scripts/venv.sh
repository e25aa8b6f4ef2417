# Sourced by the scripts: where the project's virtual environment is.
#
#   PODLAB_VENV   the venv scripts/bootstrap.sh makes and every script uses
#                 (default: .venv in the checkout)
#   VENV_PY       its interpreter: run Python as "$VENV_PY", never the system's python3
#
# The caller sets ROOT (the checkout) first. require_venv dies with a hint when the venv
# is not there yet.
PODLAB_VENV="${PODLAB_VENV:-$ROOT/.venv}"
VENV_PY="$PODLAB_VENV/bin/python"

require_venv() {
    if [ ! -x "$VENV_PY" ]; then
        printf 'ERROR: no project venv at %s (run scripts/bootstrap.sh)\n' "$PODLAB_VENV" >&2
        exit 1
    fi
}
