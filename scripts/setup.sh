#!/usr/bin/env bash
# Install voicechat and what it needs on this machine: espeak-ng (Debian) and the Python package.
#   scripts/setup.sh          the server
#   scripts/setup.sh --test   the server plus the test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
apt_extra=()
if [ "${1:-}" = "--test" ]; then
  extras="[test]"
  apt_extra=(chromium)  # the browser tests drive Debian's Chromium through playwright (no `playwright install`)
fi

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "warning: please install ${missing[*]} (Debian/Ubuntu: apt-get install ${missing[*]})" >&2
  fi
}

if command -v apt-get >/dev/null; then
  apt_install espeak-ng ${apt_extra[@]+"${apt_extra[@]}"}
fi

# llama.cpp is compiled from source by pip. A portable AVX2 build: -march=native also turns on AMX on
# recent Xeons, and AMX kernels crash inside VMs that do not grant the tile state (seen on our CI).
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
python -m pip install --disable-pip-version-check -q -e ".${extras}"
# The end-of-turn model: one file out of the pinned pipecat-ai wheel (not the package), both hashes checked.
python -m voicechat.smart_turn
