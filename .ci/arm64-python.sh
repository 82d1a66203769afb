#!/usr/bin/env bash
# An aarch64 CPython 3.11 that runs on this x86_64 machine under qemu's user-mode emulator, for
# the handler check and `hatch-lambda invoke` on arm64 targets (HATCH_LAMBDA_PYTHON_3_11_ARM64).
#
#   .ci/arm64-python.sh SYSROOT
#
# Debian's arm64 packages are downloaded and unpacked into SYSROOT with `dpkg -x`: nothing is
# installed for arm64, so the host's own Python and libraries are untouched. Needs root and a
# Debian with apt (it installs qemu-user-static and adds the arm64 architecture if missing).
# Prints the command line to put in HATCH_LAMBDA_PYTHON_3_11_ARM64 on its last line.
set -euo pipefail

sysroot="${1:?usage: $0 SYSROOT}"
mkdir -p "$sysroot"
sysroot="$(cd "$sysroot" && pwd)"

# The interpreter and what its standard library's extension modules link against.
packages=(
  python3.11-minimal libpython3.11-minimal libpython3.11-stdlib
  libc6 libgcc-s1 libstdc++6 zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libsqlite3-0
  libuuid1 libncursesw6 libtinfo6 libreadline8 libcrypt1 libdb5.3 libnsl2 libtirpc3
)

if ! command -v qemu-aarch64-static >/dev/null; then
  apt-get install -y -qq qemu-user-static >/dev/null
fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  apt-get update -qq
elif ! apt-cache show python3.11-minimal:arm64 >/dev/null 2>&1; then
  apt-get update -qq
fi

if [ ! -x "$sysroot/usr/bin/python3.11" ]; then
  downloads="$(mktemp -d)"
  chmod 755 "$downloads"  # apt-get download runs as _apt
  trap 'rm -rf -- "$downloads"' EXIT
  (cd "$downloads" && apt-get download -qq "${packages[@]/%/:arm64}")
  for deb in "$downloads"/*.deb; do
    dpkg -x "$deb" "$sysroot"
  done
fi

command="qemu-aarch64-static -L $sysroot $sysroot/usr/bin/python3.11"
$command -c 'import platform, sys; assert platform.machine() == "aarch64", platform.machine(); assert sys.version_info[:2] == (3, 11)'
echo "$command"
