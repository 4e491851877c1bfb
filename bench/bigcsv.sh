#!/usr/bin/env bash
# bigcsv.sh: nnc on a CSV larger than it should hold in memory.
#
#   bench/bigcsv.sh rss     peak resident memory of `nnc train` on a
#                           SIZE_MB (default 4096) CSV: the first run (the
#                           one-time conversion to the binary cache, then
#                           training from it) and the second (the cache
#                           reused), by /usr/bin/time -v
#   bench/bigcsv.sh speed   samples/s of the fit loop on a SIZE_MB (default
#                           64) CSV held in memory (NNC_CACHE_DIR=off)
#                           against the same rows read from the cache, for
#                           the small model and an MLP 32-256-256-3
#
# The CSV (bench/.cache/big-SIZE.csv, written once): a header, 32 columns of
# %.6f values and a class name (a, b or c), ~300 bytes a row: a 64 MB block
# from Python's Mersenne Twister (seed 1), repeated to SIZE_MB. The cache
# goes to bench/.cache/nnc (NNC_CACHE_DIR), removed before the first run.
# Model: Dense(64, relu) - Dense(3, softmax), adam, sparse CE, batch 1024,
# 1 epoch (rss) or 3 epochs (speed, the best epoch's samples/s is kept).
# A cache file is named after the source path, so the speed run's cache
# replaces the rss run's only when SIZE_MB is the same.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-rss}
case $mode in
rss) size=${SIZE_MB:-4096} ;;
speed) size=${SIZE_MB:-64} ;;
*) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
cache="$root/bench/.cache"
mkdir -p "$cache"
csv="$cache/big-$size.csv"
nnc="$root/build/nnc"
[ -x "$nnc" ] || make -C "$root" -s
if [ ! -f "$csv" ]; then
    block="$cache/big-block.csv"
    if [ ! -f "$block" ]; then
        python3 - "$block" <<'PY'
import random, sys
random.seed(1)
rows = []
size = 0
with open(sys.argv[1], "w") as f:
    while size < 64 << 20:
        line = ",".join("%.6f" % random.uniform(-1, 1) for _ in range(32)) + "," + "abc"[random.randrange(3)] + "\n"
        f.write(line)
        size += len(line)
PY
    fi
    { printf 'c%d,' $(seq 0 31); echo label
      reps=$(( (size + 63) / 64 ))
      for _ in $(seq "$reps"); do cat "$block"; done; } > "$csv.tmp"
    mv "$csv.tmp" "$csv"
fi
model="$cache/big.yaml"
cat > "$model" <<'YAML'
layers:
  - Dense: {units: 64, activation: relu, input_shape: [32]}
  - Dense: {units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1, batch_size: 1024, seed: 1}
data: {target: label}
YAML
rows=$(( $(wc -l < "$csv") - 1 ))
bytes=$(stat -c %s "$csv")
export NNC_CACHE_DIR="$cache/nnc"

if [ "$mode" = rss ]; then
    rm -rf "$NNC_CACHE_DIR"
    echo "CSV: $csv, $((bytes / 1000000)) MB, $rows rows"
    for run in "first (converts to the cache)" "second (reuses the cache)"; do
        /usr/bin/time -v "$nnc" train "$model" "$csv" -v 2 -o "$cache/big.model" \
            2> "$cache/rss.err" > /dev/null
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$cache/rss.err")
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$cache/rss.err")
        echo "$run: max RSS $((rss / 1024)) MB, wall $wall"
        grep '^nnc: .*cache' "$cache/rss.err" || true
    done
    ls -l "$NNC_CACHE_DIR"
    exit 0
fi

# speed: the fit loop's samples/s (history "seconds": the epoch's time),
# for the small model above (a few microseconds a sample: the loader's
# preads show) and for an MLP 32-256-256-3 (the loader hides behind compute).
best() { # best samples/s over the epochs of a --json history
    python3 -c 'import json,sys; h=json.load(sys.stdin)["history"]["seconds"]; print("%.0f" % (int(sys.argv[1]) / min(h)))' "$1"
}
sed 's/units: 64, activation: relu, input_shape: \[32\]}/units: 256, activation: relu, input_shape: [32]}\n  - Dense: {units: 256, activation: relu}/' \
    "$model" > "$cache/big-mlp.yaml"
echo "CSV: $((bytes / 1000000)) MB, $rows rows; 3 epochs, batch 1024, the best epoch"
for mf in "$model" "$cache/big-mlp.yaml"; do
    mem=$(NNC_CACHE_DIR=off "$nnc" train "$mf" "$csv" --epochs 3 -v 0 --json -o "$cache/big-mem.model" | best "$rows")
    NNC_CACHE_MIN=0 "$nnc" train "$mf" "$csv" --epochs 1 -v 0 -o "$cache/big-map.model" > /dev/null
    map=$(NNC_CACHE_MIN=0 "$nnc" train "$mf" "$csv" --epochs 3 -v 0 --json -o "$cache/big-map.model" | best "$rows")
    python3 -c 'import sys; m, c = float(sys.argv[2]), float(sys.argv[3]); print("%s: in memory %.0f samples/s, from the cache %.0f samples/s, cache/memory %.3f" % (sys.argv[1], m, c, c / m))' \
        "$(basename "$mf" .yaml)" "$mem" "$map"
done
