#!/usr/bin/env bash
# Install voicechat and what it needs on this machine: Debian packages (espeak-ng; python3-venv and a C++
# compiler when missing) and the Python package, editable, into a Python environment:
#   - the active virtualenv or conda env, when there is one;
#   - else the project's own .venv (made here; Debian's system Python refuses pip, PEP 668).
# scripts/run.sh runs a command in that same environment without activating anything.
#   scripts/setup.sh          the server
#   scripts/setup.sh --test   the server plus the test dependencies (and Debian's Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
apt_packages=(espeak-ng)
if [ "${1:-}" = "--test" ]; then
  extras="[test]"
  apt_packages+=(chromium)  # the browser tests drive Debian's Chromium through playwright (no `playwright install`)
  apt_packages+=(postgresql nginx)  # tests/postgres.py, tests/nginx.py: a throwaway database and balancer
fi

apt_updated=""
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local run=()
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "warning: please install ${missing[*]} (Debian/Ubuntu: apt-get install ${missing[*]})" >&2
      return 0
    fi
    run=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$apt_updated" ]; then "${run[@]}" apt-get update -qq; apt_updated=1; fi
  "${run[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The interpreter to build on: $PYTHON, else python3, else python (bare Debian has only python3).
base_python="${PYTHON:-$(command -v python3 || command -v python || true)}"
if command -v apt-get >/dev/null; then
  [ -n "$base_python" ] || apt_packages+=(python3)
  # llama-cpp-python compiles llama.cpp: a C++ compiler (cmake and ninja come from PyPI when missing).
  command -v c++ >/dev/null || command -v g++ >/dev/null || apt_packages+=(g++ make)
  apt_install "${apt_packages[@]}"
  base_python="${base_python:-$(command -v python3)}"
fi
[ -n "$base_python" ] || { echo "error: no python3 found; install Python 3.10 or newer" >&2; exit 1; }

# shellcheck source=scripts/env.sh
. scripts/env.sh
if in_python_env "$base_python"; then
  python="$base_python"
else
  if [ ! -x .venv/bin/python ]; then
    if ! "$base_python" -c 'import ensurepip, venv' 2>/dev/null && command -v apt-get >/dev/null; then
      # Debian ships venv's pip bootstrap separately: python3-venv (python3.X-venv for another version).
      apt_install python3-venv
      if ! "$base_python" -c 'import ensurepip' 2>/dev/null; then
        apt_install "python$("$base_python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
      fi
    fi
    "$base_python" -m venv .venv
  fi
  python=.venv/bin/python
fi

# llama.cpp is compiled from source by pip. A portable AVX2 build: -march=native also turns on AMX on
# recent Xeons, and AMX kernels crash inside VMs that do not grant the tile state (seen on our CI).
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
"$python" -m pip install --disable-pip-version-check -q -e ".${extras}"
# The end-of-turn model: one file out of the pinned pipecat-ai wheel (not the package), both hashes checked.
"$python" -m voicechat.smart_turn
echo "voicechat installed in $("$python" -c 'import sys; print(sys.prefix)'); scripts/run.sh CMD runs CMD there"
