#!/bin/sh
# check_no_compiler_deps.sh LIBSO LIBA EXAMPLE: the runtime pulls in no MLIR,
# LLVM, protobuf or C++ runtime, dynamically or as linked-in symbols.
set -eu
so=$1; a=$2; ex=$3
fail=0
for f in "$so" "$ex"; do
  deps=$(ldd "$f")
  echo "ldd $f:"; echo "$deps"
  if echo "$deps" | grep -Ei 'libMLIR|libLLVM|libprotobuf|libstdc\+\+'; then
    echo "FAIL: $f links a compiler/C++ library" >&2; fail=1
  fi
done
bad=$(nm --defined-only "$a" | awk '{print $NF}' | grep -Ei 'mlir|llvm|google|protobuf' || true)
if [ -n "$bad" ]; then echo "FAIL: $a defines: $bad" >&2; fail=1; fi
n=$(nm --defined-only "$a" | grep -c ' T mote_' || true)
# A library that defines nothing would pass vacuously.
if [ "$n" -lt 10 ]; then echo "FAIL: $a defines only $n mote_ functions" >&2; fail=1; fi
exit $fail
