# Sourced by scripts/setup.sh and scripts/run.sh: which Python environment the project lives in.
# An active virtualenv or conda env is used as it is; otherwise the project's own .venv.

# in_python_env PYTHON: true when PYTHON runs inside a virtualenv or a conda env (pip may install there).
in_python_env() {
  "$1" -c 'import os, sys
sys.exit(0 if sys.prefix != sys.base_prefix or os.path.isdir(os.path.join(sys.prefix, "conda-meta")) else 1)' \
    2>/dev/null
}
