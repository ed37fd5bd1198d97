#!/usr/bin/env bash
# motec smoke test: compiles the stories260K family, checks each bundle with
# an independent libprotobuf reader (bundle_check), and checks that failing
# compiles print one error line and leave no file behind.
set -u
MOTEC="$MOTE_BIN/motec"
CHECK="$1"
M="${MOTE_MODELS:?}"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
fail=0
die() { echo "FAIL: $*" >&2; fail=1; }

for f in "$M/stories260K/stories260K.bin" "$M/stories260K-hf/model.safetensors" \
         "$M/stories260K-hf-bf16/model.safetensors.index.json"; do
  if [ ! -e "$f" ]; then
    if [ "${CI:-}" = true ]; then echo "FAIL: missing $f (CI=true)" >&2; exit 1; fi
    echo "SKIP: missing $f" >&2; exit 77
  fi
done

compile() { # name model [flags...]
  local name=$1 model=$2; shift 2
  if ! "$MOTEC" compile "$model" -o "$W/$name.mote" --report-json "$W/$name.json" \
       -q "$@" 2>"$W/$name.err"; then
    die "$name: motec failed: $(cat "$W/$name.err")"
    return 1
  fi
  [ -s "$W/$name.err" ] && die "$name: -q but stderr: $(cat "$W/$name.err")"
  return 0
}

compile v0 "$M/stories260K/stories260K.bin" &&
  { "$CHECK" "$W/v0.mote" --report "$W/v0.json" \
      --raw-v0 "$M/stories260K/stories260K.bin" || die "v0 bundle check"; }
compile hf "$M/stories260K-hf" &&
  { "$CHECK" "$W/hf.mote" --report "$W/hf.json" --same-weights "$W/v0.mote" --skip-qk \
      || die "hf bundle check"; }
compile bf16 "$M/stories260K-hf-bf16" &&
  { "$CHECK" "$W/bf16.mote" --report "$W/bf16.json" --same-weights "$W/hf.mote" --bf16 \
      || die "bf16 bundle check"; }

# Options reach the graphs: context and prefill size.
compile small "$M/stories260K/stories260K.bin" --context 100 --prefill-tokens 16 &&
  { grep -q '"context": 100' "$W/small.json" && grep -q '"max_tokens": 16' "$W/small.json" \
      || die "--context/--prefill-tokens not in the report"; }

# Default (non-quiet) run prints the report on stderr.
"$MOTEC" compile "$M/stories260K/stories260K.bin" -o "$W/loud.mote" 2>"$W/loud.err" ||
  die "loud compile failed"
grep -q "graph decode: T=1" "$W/loud.err" || die "no compile report on stderr"

"$MOTEC" compile "$M/stories260K/stories260K.bin" -o "$W/ir.mote" -q --print-ir-after-all \
  2>"$W/ir.err" || die "--print-ir-after-all compile failed"
grep -q "IR Dump After MoteLowerCpuPass" "$W/ir.err" || die "--print-ir-after-all printed nothing"

# --emit-mlir then --from-mlir gives the same bundle schedule.
compile rt "$M/stories260K/stories260K.bin" --emit-mlir "$W/rt.mlir" &&
compile rt2 "$M/stories260K/stories260K.bin" --from-mlir "$W/rt.mlir" &&
  { diff <(grep -v '"output"' "$W/rt.json") <(grep -v '"output"' "$W/rt2.json") >&2 \
      || die "--from-mlir report differs"; }

# --score-graph adds @score (prefill's T, logits for all rows); default has none.
compile score "$M/stories260K/stories260K.bin" --score-graph --emit-mlir "$W/score.mlir" &&
  { "$MOTEC" inspect "$W/score.mote" | grep -q '^graph score (score, cpu): T=64,' ||
      die "--score-graph: no score graph in the bundle"
    grep -A3 'func.func @score' "$W/score.mlir" | grep -q 'mote.graph_kind = "score"' &&
      grep -q 'all_rows = true' "$W/score.mlir" ||
      die "--score-graph: no @score graph with all_rows = true"; }
grep -q '@score' "$W/rt.mlir" && die "a default compile emitted @score"

# --buckets (docs/buckets.md): static clones per (T, C) next to the dynamic
# graphs; context defaults to --context.
compile buckets "$M/stories260K/stories260K.bin" --context 128 \
    --buckets prefill=1,8,32:context=64,128 &&
  { "$CHECK" "$W/buckets.mote" --graphs 10 --report "$W/buckets.json" || die "buckets bundle check"
    "$MOTEC" inspect "$W/buckets.mote" >"$W/buckets.txt"
    for g in "prefill_t1_c64 (prefill, cpu): T=1, context 64" \
             "prefill_t32_c128 (prefill, cpu): T=32, context 128" \
             "decode_c64 (decode, cpu): T=1, context 64" "prefill (prefill, cpu): T=64, context 128"; do
      grep -q "^graph $g," "$W/buckets.txt" || die "--buckets: no graph $g"
    done
    [ "$(grep -c '^graph ' "$W/buckets.txt")" = 10 ] || die "--buckets: graph count"; }
compile buckets-ctx "$M/stories260K/stories260K.bin" --context 96 --buckets prefill=4 &&
  { "$MOTEC" inspect "$W/buckets-ctx.mote" | grep -q '^graph prefill_t4_c96 ' ||
      die "--buckets without context: no prefill_t4_c96"; }

# Failing compiles: one "motec: error:" line, exit 1, no output, no temp file.
expect_fail() { # name pattern args...
  local name=$1 pat=$2; shift 2
  "$MOTEC" compile "$@" 2>"$W/$name.err"
  local rc=$?
  [ $rc = 1 ] || die "$name: exit $rc, want 1"
  [ "$(wc -l <"$W/$name.err")" = 1 ] || die "$name: stderr not one line: $(cat "$W/$name.err")"
  grep -q "^motec: error: .*$pat" "$W/$name.err" || die "$name: message: $(cat "$W/$name.err")"
  ls "$W"/out/ 2>/dev/null | grep -q . && die "$name: left files: $(ls "$W/out")"
  rm -rf "$W/out"; mkdir -p "$W/out"
}
mkdir -p "$W/out"
expect_fail weights "--weights w3: must be f32, f16, w2, w4 or w8" \
  "$M/stories260K/stories260K.bin" -o "$W/out/x.mote" --weights w3
expect_fail group-size "--group-size 48: must be 32, 64, 128 or 0 (whole row)" \
  "$M/stories260K/stories260K.bin" -o "$W/out/x.mote" --weights w4 --group-size 48
echo '{"layers.0.wq": "w8", "layers.99.wq": "w2"}' > "$W/policy.json"
expect_fail policy "policy.json: field 'layers.99.wq': no mote.param of that name" \
  "$M/stories260K/stories260K.bin" -o "$W/out/x.mote" --weights w4 --weights-policy "$W/policy.json"
expect_fail nomodel "no-such" "$W/no-such.bin" -o "$W/out/x.mote"
expect_fail buckets-num "--buckets prefill=1,x: 'x' is not a token count" \
  "$M/stories260K/stories260K.bin" -o "$W/out/x.mote" --buckets prefill=1,x
expect_fail buckets-key "unknown key 'decode' (prefill or context)" \
  "$M/stories260K/stories260K.bin" -o "$W/out/x.mote" --buckets decode=1
expect_fail buckets-noprefill "needs prefill=T,T,..." \
  "$M/stories260K/stories260K.bin" -o "$W/out/x.mote" --buckets context=64
expect_fail buckets-order "prefill buckets must be strictly increasing (no duplicates), got 8 then 4" \
  "$M/stories260K/stories260K.bin" -o "$W/out/x.mote" --buckets prefill=8,4
expect_fail buckets-ctx "context bucket 512 exceeds the graph's mote.context 128" \
  "$M/stories260K/stories260K.bin" -o "$W/out/x.mote" --context 128 --buckets prefill=8:context=64,512
sed 's/@layers\.0\.wq\b/@layers.0.wqq/g' "$W/rt.mlir" >"$W/bad.mlir"
expect_fail badparam "layers.0.wqq" "$M/stories260K/stories260K.bin" \
  -o "$W/out/x.mote" --from-mlir "$W/bad.mlir"
# The rename fails after the weights were written: the temp file must go.
mkdir -p "$W/out/isdir"
"$MOTEC" compile "$M/stories260K/stories260K.bin" -o "$W/out/isdir" -q 2>"$W/dir.err" &&
  die "writing over a directory succeeded"
grep -q "^motec: error: " "$W/dir.err" || die "dir: $(cat "$W/dir.err")"
ls "$W/out" | grep -q tmp && die "temp file left behind: $(ls "$W/out")"

[ $fail = 0 ] && echo "motec_smoke: ok"
exit $fail
