#!/usr/bin/env bash
# bignpy.sh: nnc on an NPY larger than it should hold in memory.
#
#   bench/bignpy.sh rss     peak resident memory of `nnc train` (1 epoch)
#                           on a SIZE_MB (default 2048) float32 NPY, trained
#                           from the file's own map, by /usr/bin/time -v
#   bench/bignpy.sh speed   samples/s of the fit loop on a SIZE_MB (default
#                           320: above the 256 MiB map-read bound) NPY: the
#                           rows read from the file with pread (the default)
#                           against the same map read through, resident like
#                           an array in memory (NNC_MAP_RESIDENT=huge), for
#                           a small model and an MLP COLS-256-256-3
#
# The data (bench/.cache/bignpy-SIZE-COLS-{x,y}.npy, written once): x float32
# (n, COLS) (default 784, a flattened 28x28 image), a 64 MB block of uniform [-1, 1) values (Python's Mersenne
# Twister, seed 1) repeated to SIZE_MB; y uint8 class labels 0-2 (whether the
# first feature is below -1/3, below 1/3, above). Model: Dense(64, relu) -
# Dense(3, softmax), adam, sparse CE, batch 1024; speed: 2 epochs, the best
# epoch's samples/s is kept.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-rss}
case $mode in
rss) size=${SIZE_MB:-2048} ;;
speed) size=${SIZE_MB:-320} ;;
*) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
cache="$root/bench/.cache"
mkdir -p "$cache"
cols=${COLS:-784}
x="$cache/bignpy-$size-$cols-x.npy"
y="$cache/bignpy-$size-$cols-y.npy"
nnc="$root/build/nnc"
[ -x "$nnc" ] || make -C "$root" -s
if [ ! -f "$x" ] || [ ! -f "$y" ]; then
    python3 - "$x" "$y" "$size" "$cols" <<'PY'
import array, random, struct, sys
xp, yp, size, cols = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
block_rows = (64 << 20) // (4 * cols)
reps = max(1, (size << 20) // (block_rows * cols * 4))
rows = block_rows * reps
random.seed(1)
block = array.array("f", (random.uniform(-1, 1) for _ in range(block_rows * cols)))
labels = array.array("B", (0 if block[i * cols] < -1 / 3 else 1 if block[i * cols] < 1 / 3 else 2
                           for i in range(block_rows)))
def header(descr, shape):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    n = (10 + len(h) + 1 + 63) // 64 * 64 - 10
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", n) + (h + " " * (n - len(h) - 1) + "\n").encode()
for path, descr, shape, data in ((xp, "<f4", "(%d, %d)" % (rows, cols), block),
                                 (yp, "|u1", "(%d,)" % rows, labels)):
    with open(path + ".tmp", "wb") as f:
        f.write(header(descr, shape))
        for _ in range(reps):
            data.tofile(f)
import os
for p in (xp, yp):
    os.replace(p + ".tmp", p)
PY
fi
model="$cache/bignpy.yaml"
cat > "$model" <<YAML
layers:
  - Dense: {units: 64, activation: relu, input_shape: [$cols]}
  - Dense: {units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1, batch_size: 1024, seed: 1}
YAML
bytes=$(stat -c %s "$x")
rows=$(LC_ALL=C sed -n 's/.*shape.: (\([0-9]*\),.*/\1/p' < <(head -c 128 "$x" | tr -d '\000'))
export NNC_CACHE_DIR="$cache/nnc"

if [ "$mode" = rss ]; then
    echo "NPY: $x, $((bytes / 1000000)) MB, $rows rows of $cols float32"
    cat "$x" > /dev/null # in the page cache, as a second run would find it
    /usr/bin/time -v "$nnc" train "$model" "$x" "$y" -v 2 -o "$cache/bignpy.model" \
        2> "$cache/bignpy-rss.err" > /dev/null
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$cache/bignpy-rss.err")
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$cache/bignpy-rss.err")
    echo "train, 1 epoch: max RSS $((rss / 1024)) MB, wall $wall"
    grep -E '^nnc: (using|wrote) cache' "$cache/bignpy-rss.err" || echo "(no cache file: trained from the NPY's map)"
    exit 0
fi

best() { # best samples/s over the epochs of a --json history
    python3 -c 'import json,sys; h=json.load(sys.stdin)["history"]["seconds"]; print("%.0f" % (int(sys.argv[1]) / min(h)))' "$1"
}
sed "s/units: 64, activation: relu, input_shape: \[$cols\]}/units: 256, activation: relu, input_shape: [$cols]}\n  - Dense: {units: 256, activation: relu}/" \
    "$model" > "$cache/bignpy-mlp.yaml"
echo "NPY: $((bytes / 1000000)) MB, $rows rows; 2 epochs, batch 1024, the best epoch"
cat "$x" > /dev/null
for mf in "$model" "$cache/bignpy-mlp.yaml"; do
    file=$("$nnc" train "$mf" "$x" "$y" --epochs 2 -v 0 --json -o "$cache/bignpy-f.model" | best "$rows")
    mem=$(NNC_MAP_RESIDENT=1000000000000 "$nnc" train "$mf" "$x" "$y" --epochs 2 -v 0 --json \
          -o "$cache/bignpy-m.model" | best "$rows")
    python3 -c 'import sys; m, f = float(sys.argv[2]), float(sys.argv[3]); print("%s: resident %.0f samples/s, from the file %.0f samples/s, file/resident %.3f" % (sys.argv[1], m, f, f / m))' \
        "$(basename "$mf" .yaml)" "$mem" "$file"
done
