#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for building and testing the project: the Debian
# tools the test suite calls (nasm and ld assemble test guests, gcc builds the native
# differential-test harness), then the npm dependencies from the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(nasm binutils gcc)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
