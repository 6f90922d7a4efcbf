#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for building and testing the project: the Debian
# tools the test suite calls (nasm and ld assemble test guests, gcc builds the native
# differential-test harness, xz unpacks Debian's kernel and packages, cpio checks our
# initramfs writer, mandoc checks the manual pages, qemu-img and qemu-io from qemu-utils check
# our disk images), then the npm dependencies from the lock file. Guest images are made from
# Debian packages with `apt-get download`, which needs apt's package lists.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(nasm binutils gcc xz-utils cpio mandoc qemu-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
lists=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' 2>/dev/null | head -n 1)
if [ "${#missing[@]}" -gt 0 ] || [ -z "$lists" ]; then
  $sudo apt-get update -qq
fi
if [ "${#missing[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
