#!/usr/bin/env bash
# Try the README's quick start the way a new user would, in a fresh Debian root (debootstrap + chroot, as
# root on the host; nothing from the host's Python reaches it). Not part of CI: it downloads a Debian base
# system and every Python dependency, and compiles llama.cpp (about 30 minutes on 2 cores).
#   scripts/debian-check.sh bookworm /tmp/roots/bookworm [PORT]     # Debian 12, Python 3.11
#   scripts/debian-check.sh trixie   /tmp/roots/trixie   [PORT]     # Debian 13, Python 3.13
# It runs the two README commands verbatim with Debian's own PATH: the first until the page is served
# (on PORT, default 8000, through VOICECHAT_PORT), the second to the end of the suite. Logs go to ROOT.log.
set -euo pipefail
suite="$1"
root="$(realpath -m "$2")"
port="${3:-8000}"
repo="$(cd "$(dirname "$0")/.." && pwd)"

[ -x "$root/bin/bash" ] || debootstrap "$suite" "$root" http://deb.debian.org/debian
mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --rbind /sys "$root/sys" && mounted+=("$root/sys")
mount --rbind /dev "$root/dev" && mounted+=("$root/dev")
cp /etc/resolv.conf /etc/hosts "$root/etc/"
# Only where the network intercepts TLS (as the sandbox this was first run in does): pip must trust the
# interceptor's CA. A machine on an ordinary network needs none of this.
extra_env=()
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/root/host-ca-bundle.pem"
  extra_env=(PIP_CERT=/root/host-ca-bundle.pem SSL_CERT_FILE=/root/host-ca-bundle.pem)
fi
rm -rf "$root/root/voicechat"
git clone -q "$repo" "$root/root/voicechat"  # a clean clone: committed files only

chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ${extra_env[@]+"${extra_env[@]}"} \
  VOICECHAT_PORT="$port" bash -s <<'CHROOT' 2>&1 | tee "$root.log"
set -uo pipefail
cd /root/voicechat
echo "== $(. /etc/os-release; echo "$PRETTY_NAME"), $(id -un); python: $(command -v python || echo none)," \
     "python3: $(command -v python3 || echo none)"
echo "== README command 1: scripts/setup.sh && scripts/run.sh voicechat serve"
setsid bash -c 'scripts/setup.sh && scripts/run.sh voicechat serve' > /root/serve.log 2>&1 &
serve=$!
served=""
for _ in $(seq 1 2400); do  # installing takes minutes (llama.cpp compiles); then the page must come
  kill -0 "$serve" 2>/dev/null || break
  if command -v python3 >/dev/null && python3 - <<'PY' 2>/dev/null; then served=1; break; fi
import os, sys, urllib.request
page = urllib.request.urlopen(f"http://127.0.0.1:{os.environ['VOICECHAT_PORT']}/", timeout=5).read()
sys.exit(0 if page == open("voicechat/static/index.html", "rb").read() else 1)
PY
  sleep 1
done
kill -TERM -- "-$serve" 2>/dev/null; wait "$serve" 2>/dev/null
tail -n 25 /root/serve.log
[ -n "$served" ] && echo "== README command 1: the page was served" || echo "== README command 1: FAILED"
echo "== README command 2: scripts/setup.sh --test && scripts/run.sh python -m pytest"
unset VOICECHAT_PORT  # the suite picks its own ports
scripts/setup.sh --test && scripts/run.sh python -m pytest
status=$?
echo "== README command 2: exit status $status; .venv python: $(.venv/bin/python -V 2>&1)"
CHROOT
