#!/usr/bin/env bash
# README command 2: install what is missing, build (release with -Werror, and
# an ASan+UBSan build of the runtime, tools and importers), run every test
# through ctest. Works from a clean clone.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
ROOT="$PWD"
# The sanitizer build: only what the bad-input and runtime tests execute.
cmake -G Ninja -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMOTE_SANITIZE=ON -DMOTE_WERROR=ON >/dev/null
cmake --build build-asan -j2 --target mote-asan-targets
# The libFuzzer build: clang, runtime only.
CC=/usr/lib/llvm-22/bin/clang cmake -G Ninja -S . -B build-fuzz \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOTE_BUILD_COMPILER=OFF -DMOTE_FUZZ=ON >/dev/null
cmake --build build-fuzz -j2 --target fuzz_bundle fuzz_adapter fuzz_tokenizer fuzz_session
# The AArch64 cross build (NEON kernels): runtime, mote-run and the test
# programs that ctest runs under qemu-aarch64.
cmake -G Ninja -S . -B build-aarch64 -DCMAKE_BUILD_TYPE=Release -DMOTE_WERROR=ON \
  -DMOTE_BUILD_COMPILER=OFF -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-linux-gnu.cmake" >/dev/null
cmake --build build-aarch64 -j2 --target mote-aarch64-targets
cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release -DMOTE_WERROR=ON \
  -DMOTE_ASAN_BUILD="$ROOT/build-asan" -DMOTE_FUZZ_BUILD="$ROOT/build-fuzz" \
  -DMOTE_AARCH64_BUILD="$ROOT/build-aarch64" >/dev/null
cmake --build build -j2
ctest --test-dir build --output-on-failure -j2 --timeout 1500
