#!/usr/bin/env bash
# Run a command in the environment scripts/setup.sh installed into, without activating anything:
#   scripts/run.sh voicechat serve
#   scripts/run.sh python -m pytest
# Inside an active virtualenv or conda env the command runs as it is; otherwise the project's .venv comes
# first on the PATH.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/env.sh
. "$root/scripts/env.sh"
[ $# -gt 0 ] || { echo "usage: scripts/run.sh COMMAND [ARGS...]" >&2; exit 2; }
current="$(command -v python3 || command -v python || true)"
if [ -z "$current" ] || ! in_python_env "$current"; then
  if [ ! -x "$root/.venv/bin/python" ]; then
    echo "error: $root/.venv is missing: run scripts/setup.sh first" >&2
    exit 1
  fi
  export VIRTUAL_ENV="$root/.venv"
  export PATH="$VIRTUAL_ENV/bin:$PATH"
  unset PYTHONHOME
fi
exec "$@"
