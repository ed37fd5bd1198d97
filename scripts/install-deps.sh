#!/usr/bin/env bash
# Installs the Debian packages Mote needs to build and test, only those missing.
set -euo pipefail
PKGS=(
  cmake ninja-build g++ gcc pkg-config git
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22 lld-22 libclang-rt-22-dev
  libprotobuf-dev protobuf-compiler libcli11-dev nlohmann-json3-dev
  libgtest-dev libbenchmark-dev
  python3 python3-torch python3-numpy python3-sentencepiece libopenblas0-pthread
  xxhash binutils
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
