#!/usr/bin/env bash
# Builds possim with profile-guided optimisation: the `dist` profile (fat
# LTO), compiled once with instrumentation, run over a training set, and
# compiled again with the profile that run wrote. The headless simulation is
# a long flat tail of small functions around the DES core (ISO 8583, TLV,
# APDUs, the event loop); knowing which branches and calls are hot lets LLVM
# lay out and inline that tail better. BENCHMARKS.md has what it buys.
#
#   tools/pgo-build.sh            # -> target/pgo/possim
#
# 9 to 13 minutes on 2 cores, and 7 to 13 more if `cargo build --profile
# dist` (the plain build it compares with) has not been run yet.
#
# Needs `llvm-profdata` of the LLVM major version rustc was built with
# (`rustc -vV` says which; on Debian: apt-get install llvm-22). Set
# LLVM_PROFDATA to pick one. The output is the same program: before it
# finishes, the script checks that it writes the same journal as the plain
# `dist` build for every scenario of the training set.
#
# The training set is every scenario in scenarios/ but the million, and the
# million's shop cut to 20,000 purchases; never the million itself.
set -euo pipefail
cd "$(dirname "$0")/.."

llvm_major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
profdata=${LLVM_PROFDATA:-}
if [ -z "$profdata" ]; then
    for c in "llvm-profdata-$llvm_major" "/usr/lib/llvm-$llvm_major/bin/llvm-profdata"; do
        if command -v "$c" >/dev/null 2>&1; then profdata=$c; break; fi
    done
fi
if [ -z "$profdata" ]; then
    echo "llvm-profdata for LLVM $llvm_major not found (apt-get install llvm-$llvm_major, or set LLVM_PROFDATA)" >&2
    exit 2
fi

work=target/pgo
rm -rf "$work/profiles" "$work/train"
mkdir -p "$work/profiles" "$work/train"
abs=$(pwd)/$work

echo "== 1/3 instrumented build"
RUSTFLAGS="-Cprofile-generate=$abs/profiles" \
    cargo build --quiet --profile dist --target-dir "$work/gen"

echo "== 2/3 training runs"
sed 's/purchases: 1000000/purchases: 20000/' scenarios/bench-million.ron > "$work/train/bench-20k.ron"
train=("$work/train/bench-20k.ron")
for f in scenarios/*.ron; do
    [ "$(basename "$f")" = bench-million.ron ] || train+=("$f")
done
for f in "${train[@]}"; do
    # A scenario whose expectations fail still trains: only crashes stop.
    "$work/gen/dist/possim" run "$f" -q >/dev/null 2>&1 || [ $? -lt 100 ]
done
"$profdata" merge -o "$abs/possim.profdata" "$abs/profiles"

echo "== 3/3 optimised build"
RUSTFLAGS="-Cprofile-use=$abs/possim.profdata" \
    cargo build --quiet --profile dist --target-dir "$work/use"
cp "$work/use/dist/possim" "$work/possim"

echo "== the same journals as the plain build, on the training set"
cargo build --quiet --profile dist
for f in "${train[@]}"; do
    ./target/dist/possim run "$f" -q --journal "$work/train/plain.jsonl" >/dev/null 2>&1 || [ $? -lt 100 ]
    "$work/possim" run "$f" -q --journal "$work/train/pgo.jsonl" >/dev/null 2>&1 || [ $? -lt 100 ]
    if ! cmp -s "$work/train/plain.jsonl" "$work/train/pgo.jsonl"; then
        echo "journals differ for $f" >&2
        exit 1
    fi
done
echo "built $work/possim"
