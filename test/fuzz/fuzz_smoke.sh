#!/bin/sh
# fuzz_smoke.sh FUZZER CORPUS_DIR [SEED_BUNDLE]: 20 s of fuzz_bundle from a
# real bundle and its truncations. Without a seed the bundle is compiled with
# $MOTE_SOURCE/build/bin/motec; when none can be had the run is skipped (77),
# or fails under CI=true.
set -eu
fuzzer=$1; corpus=$2; seed=${3:-}
mkdir -p "$corpus"
if [ -z "$seed" ] || [ ! -f "$seed" ]; then
  seed="$corpus/../stories260K.mote"
  motec="${MOTE_SOURCE:-}/build/bin/motec"
  if [ -x "$motec" ] && [ -d "${MOTE_MODELS:-}/stories260K" ]; then
    "$motec" compile "$MOTE_MODELS/stories260K" -o "$seed" >/dev/null
  fi
fi
if [ ! -f "$seed" ]; then
  echo "fuzz_smoke: no seed bundle (set MOTE_FUZZ_SEED_BUNDLE or build motec in build/)" >&2
  if [ "${CI:-}" = true ]; then exit 1; fi
  exit 77
fi
cp "$seed" "$corpus/seed.mote"
size=$(wc -c < "$seed")
for n in 0 7 8 63 64 65 200 1000 4096 8192 $((size / 2)) $((size - 1)); do
  head -c "$n" "$seed" > "$corpus/trunc_$n"
done
# libFuzzer exits non-zero (and prints the input) on any crash or sanitizer report.
exec "$fuzzer" -max_total_time=20 -rss_limit_mb=2048 -max_len=$((size + 4096)) \
  -print_final_stats=1 "$corpus"
