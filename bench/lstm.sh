#!/usr/bin/env bash
# lstm.sh: nnc against PyTorch on an LSTM (bench/lstm.yaml, bench/lstm_torch.py)
# reading Fashion-MNIST images row by row (28 steps of 28 pixels): training
# and prediction samples/s and test accuracy, per thread count.
#
#   bench/lstm.sh [--install] [--model FILE] [NNC]
#
#   --install     apt-get install dataset-fashion-mnist and python3-torch first
#                 (whichever is missing; uses sudo when not root)
#   --model FILE  an nnc model to use instead of bench/lstm.yaml (for testing
#                 the script; the PyTorch peer still runs the LSTM)
#   NNC           the nnc binary (default build/nnc)
#   THREADS       environment: thread counts to run (default "1 2")
#   EPOCHS        environment: training epochs (default 2)
#   LIMIT         environment: train on the first LIMIT images only (default:
#                 all 60000; e.g. LIMIT=1000 to check that the script runs)
#   PYTHON        environment: the python3 that imports torch (default: the
#                 first of python3, /usr/bin/python3 that does; TORCH=0 skips
#                 PyTorch)
#   TORCH_TUNED   environment: 1 (default) runs PyTorch in its fastest setting
#                 found here: GLIBC_TUNABLES raising malloc's mmap and trim
#                 thresholds (so its per-batch buffers are reused instead of
#                 mapped and page-faulted afresh, up to a fifth of its time),
#                 and OPENBLAS_CORETYPE set to the OpenBLAS core nnc uses
#                 (OpenBLAS 0.3.21 falls back to Prescott kernels on CPUs it
#                 does not know, and nnc corrects that for itself, see
#                 src/blas_select.c); 0 runs it as Debian ships it
#
# Data: Fashion-MNIST's IDX files (from dataset-fashion-mnist, found with
# dpkg -L, or FASHION_MNIST=DIR) converted once into bench/.cache/
# fashion-train.csv and fashion-test.csv (p0..p783 as 0-255, label last).
# For each thread count T (nnc --threads T; PyTorch set_num_threads(T),
# set_num_interop_threads(1), OMP_NUM_THREADS=T, OPENBLAS_NUM_THREADS=T):
#   train     nnc train --epochs EPOCHS --seed 1; samples/s = training rows / each
#             epoch's "seconds" in the checkpoint history (training steps
#             only): the first epoch, and the mean of the others ("rest")
#   predict   nnc predict --batch-size 128 on the 10000 test rows, stdout to
#             a file: wall time of the whole command (start, checkpoint load,
#             CSV parse, forward, printing; best of 3), and the same minus the
#             wall time of predict with a one-Dense-layer checkpoint on the
#             same CSV (load + parse + printing 10 columns, ~no compute):
#             "compute"
#   accuracy  nnc evaluate on the test CSV
#   torch     bench/lstm_torch.py (training loop time per epoch; prediction on
#             the in-memory test tensor in batches of 128, best of 3 passes;
#             accuracy), when PYTHON imports torch
# Ratios are nnc/torch: train "rest" against torch's "rest" (first epochs
# when EPOCHS is 1), predict "compute" against torch's batch-128 figure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
install=0 nnc= model=$root/bench/lstm.yaml
while [ $# -gt 0 ]; do
    case $1 in
    --install) install=1 ;;
    --model) [ $# -ge 2 ] || { echo "lstm.sh: --model needs a file" >&2; exit 2; }
        model=$2; shift ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) echo "lstm.sh: unknown option $1" >&2; exit 2 ;;
    *) nnc=$1 ;;
    esac
    shift
done
nnc=${nnc:-$root/build/nnc}
case $nnc in /*) ;; *) nnc=$PWD/$nnc ;; esac
case $model in /*) ;; *) model=$PWD/$model ;; esac
[ -x "$nnc" ] || { echo "lstm.sh: $nnc not found; run make first" >&2; exit 1; }
[ -f "$model" ] || { echo "lstm.sh: $model not found" >&2; exit 1; }
threads=${THREADS:-1 2}
epochs=${EPOCHS:-2}
limit=${LIMIT:-0}
for t in $threads x; do
    case $t in x) [ -n "${threads// /}" ] || { echo "lstm.sh: THREADS is empty" >&2; exit 2; } ;;
    '' | *[!0-9]* | 0*) echo "lstm.sh: THREADS: '$t' is not a positive integer" >&2; exit 2 ;;
    esac
done
case $epochs in '' | *[!0-9]* | 0*) echo "lstm.sh: EPOCHS: '$epochs' is not a positive integer" >&2; exit 2 ;; esac
case $limit in '' | *[!0-9]*) echo "lstm.sh: LIMIT: '$limit' is not a number" >&2; exit 2 ;; esac
cache=$root/bench/.cache
mkdir -p "$cache"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
if [ $install = 1 ]; then
    missing=
    for p in dataset-fashion-mnist python3-torch; do installed "$p" || missing="$missing $p"; done
    if [ -n "$missing" ]; then
        sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >&2
    fi
fi

# ---- data ---------------------------------------------------------------------
dir=${FASHION_MNIST:-}
if [ -z "$dir" ] && installed dataset-fashion-mnist; then
    f=$(dpkg -L dataset-fashion-mnist | grep -E '/train-images-idx3-ubyte(\.gz)?$' | head -n 1 || true)
    [ -n "$f" ] && dir=$(dirname "$f")
fi
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "lstm.sh: Fashion-MNIST not found: install dataset-fashion-mnist (bench/lstm.sh --install)" \
        "or set FASHION_MNIST to the directory of its IDX files" >&2
    exit 1
fi
idx() { # idx STEM: the IDX file STEM or STEM.gz in $dir
    if [ -f "$dir/$1.gz" ]; then echo "$dir/$1.gz"; elif [ -f "$dir/$1" ]; then echo "$dir/$1"; else
        echo "lstm.sh: no $1(.gz) in $dir" >&2; exit 1; fi
}
train_csv=$cache/fashion-train.csv test_csv=$cache/fashion-test.csv
for split in train:train t10k:test; do
    stem=${split%%:*} csv=$cache/fashion-${split##*:}.csv
    if [ ! -s "$csv" ]; then
        images=$(idx "$stem-images-idx3-ubyte") labels=$(idx "$stem-labels-idx1-ubyte")
        echo "lstm.sh: converting $images to $csv (once)" >&2
        python3 "$root/bench/idx2csv.py" "$images" "$labels" "$csv.tmp"
        mv "$csv.tmp" "$csv"
    fi
done
if [ "$limit" -gt 0 ]; then # the header and the first LIMIT rows
    head -n $((limit + 1)) "$train_csv" > "$cache/fashion-train-$limit.csv"
    train_csv=$cache/fashion-train-$limit.csv
fi
n_train=$(($(wc -l < "$train_csv") - 1)) n_test=$(($(wc -l < "$test_csv") - 1))

# The predict baseline: one Dense layer reading the same 784 columns and
# printing the same 10 columns, so its predict time is loading, parsing and
# printing (its 7,850-weight forward pass is ~1% of that).
base=$cache/lstm-baseline.yaml
cat > "$base" <<'EOF'
# bench/lstm.sh: predict baseline (written by the script)
name: csv_baseline
layers:
  - Dense: {units: 10, activation: softmax, input_shape: [784]}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {batch_size: 128}
data: {target: label}
EOF
"$nnc" train "$base" "$test_csv" --epochs 1 -v 0 --seed 1 --threads 1 -o "$cache/lstm-baseline.model" \
    2> "$cache/lstm-baseline.log" || { cat "$cache/lstm-baseline.log" >&2; exit 1; }

# ---- PyTorch --------------------------------------------------------------------
py=
if [ "${TORCH:-1}" != 0 ]; then
    for p in ${PYTHON:-python3 /usr/bin/python3}; do
        if "$p" -c 'import torch, numpy' 2>/dev/null; then py=$p; break; fi
    done
fi
torch_env=() tuned="as shipped"
if [ "${TORCH_TUNED:-1}" != 0 ]; then
    core=${OPENBLAS_CORETYPE:-$(OPENBLAS_VERBOSE=2 "$nnc" --version 2>&1 | sed -n 's/^Core: //p' | tail -n 1)}
    torch_env=(GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456)
    [ -z "$core" ] || torch_env+=(OPENBLAS_CORETYPE="$core")
    tuned="tuned: ${torch_env[*]}"
fi

# ---- machine ------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "machine: $(nproc) CPUs, ${cpu:-unknown CPU}; load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
echo "nnc:     $("$nnc" --version) ($nnc)"
if [ -n "$py" ]; then
    echo "torch:   $("$py" -c 'import torch; print(torch.__version__)') ($py; $tuned)"
elif [ "${TORCH:-1}" = 0 ]; then
    echo "torch:   not run (TORCH=0)"
else
    echo "torch:   not run (no python3 here imports torch and numpy; --install installs python3-torch)"
fi
echo "data:    Fashion-MNIST ($dir): $n_train training rows, $n_test test rows"
echo "model:   $model, batch 128, $epochs epochs, seed 1"
echo

now() { date +%s.%N; }
# best3 OUT CMD...: run CMD three times with stdout to OUT; print the least wall seconds.
best3() {
    local out=$1 best= s e t
    shift
    for _ in 1 2 3; do
        s=$(now)
        "$@" > "$out" 2>> "$cache/lstm-predict.log" || { cat "$cache/lstm-predict.log" >&2; return 1; }
        e=$(now)
        t=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }')
        if [ -z "$best" ] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
    done
    echo "$best"
}

results=$cache/lstm-results.txt
: > "$results"
: > "$cache/lstm-predict.log"
for t in $threads; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    out=$cache/lstm-t$t.model
    echo "lstm.sh: threads $t: nnc train (load $load)" >&2
    s=$(now)
    NNC_NUM_THREADS=$t "$nnc" train "$model" "$train_csv" --epochs "$epochs" -v 2 --seed 1 \
        --threads "$t" -o "$out" 2> "$cache/lstm-t$t.log" || { cat "$cache/lstm-t$t.log" >&2; exit 1; }
    e=$(now)
    wall=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }')

    echo "lstm.sh: threads $t: nnc predict, evaluate" >&2
    p_lstm=$(best3 "$cache/lstm-t$t.pred" "$nnc" predict "$out" "$test_csv" --batch-size 128 --threads "$t")
    p_base=$(best3 "$cache/lstm-baseline.pred" "$nnc" predict "$cache/lstm-baseline.model" "$test_csv" \
        --batch-size 128 --threads "$t")
    [ "$(wc -l < "$cache/lstm-t$t.pred")" = "$n_test" ] ||
        { echo "lstm.sh: nnc predict wrote $(wc -l < "$cache/lstm-t$t.pred") rows, not $n_test" >&2; exit 1; }
    "$nnc" evaluate "$out" "$test_csv" --json --batch-size 128 --threads "$t" > "$cache/lstm-t$t.eval" \
        2>> "$cache/lstm-predict.log" || { cat "$cache/lstm-predict.log" >&2; exit 1; }

    torch_line=
    if [ -n "$py" ]; then
        echo "lstm.sh: threads $t: PyTorch (load $(cut -d' ' -f1 /proc/loadavg))" >&2
        torch_line=$(env ${torch_env[@]+"${torch_env[@]}"} OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" \
            "$py" "$root/bench/lstm_torch.py" "$dir" --threads "$t" --epochs "$epochs" --seed 1 --limit "$limit" \
            2> "$cache/lstm-torch-t$t.log") || { cat "$cache/lstm-torch-t$t.log" >&2; exit 1; }
        torch_line=$(printf '%s\n' "$torch_line" | grep '^torch ' | tail -n 1)
        [ -n "$torch_line" ] || { cat "$cache/lstm-torch-t$t.log" >&2; exit 1; }
    fi
    printf 'threads=%s load=%s wall=%s p_lstm=%s p_base=%s ckpt=%s eval=%s torch=[%s]\n' \
        "$t" "$load" "$wall" "$p_lstm" "$p_base" "$out/model.json" "$cache/lstm-t$t.eval" \
        "$torch_line" >> "$results"
done

# ---- table --------------------------------------------------------------------
python3 - "$results" "$n_train" "$n_test" <<'EOF'
import json, re, sys
path, n_train, n_test = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = []
for line in open(path):
    r = dict(re.findall(r"(\w+)=(\[[^\]]*\]|\S+)", line))
    with open(r["ckpt"]) as f:
        h = json.load(f)["nnc"]["history"]
    sec = h["columns"].index("seconds")
    secs = [row[sec] for row in h["rows"]]
    r["epochs"] = secs
    r["first"] = n_train / secs[0]
    rest = [n_train / s for s in secs[1:]] or [r["first"]]
    r["rest"] = sum(rest) / len(rest)
    r["other"] = float(r["wall"]) - sum(secs)
    with open(r["eval"]) as f:
        r["acc"] = json.load(f).get("accuracy")
    r["p_wall"] = n_test / float(r["p_lstm"])
    compute = float(r["p_lstm"]) - float(r["p_base"])
    r["p_compute"] = n_test / compute if compute > 0 else None   # within the noise
    r["torch"] = dict(re.findall(r"(\w+)=(\S+)", r["torch"].strip("[]")))
    runs.append(r)

def num(v, fmt="{:.0f}"):
    return "-" if v is None else fmt.format(float(v))

def ratio(a, b):
    return "-" if a is None or b is None else f"{float(a) / float(b):.2f}"

print(f"training, samples/s ({n_train} images per epoch; rest = mean of epochs 2..):")
print(f"{'threads':>7} {'load':>5} {'nnc 1st':>8} {'nnc rest':>8} {'torch 1st':>9} {'torch rest':>10} {'nnc/torch':>9}")
for r in runs:
    t = r["torch"]
    many = len(r["epochs"]) > 1
    print(f"{r['threads']:>7} {r['load']:>5} {num(r['first']):>8} {num(r['rest']):>8} "
          f"{num(t.get('train_first')):>9} {num(t.get('train_rest')):>10} "
          f"{ratio(r['rest'] if many else r['first'], t.get('train_rest' if many else 'train_first')):>9}")
best_n = max(runs, key=lambda r: r["rest"])
best_t = max((r for r in runs if r["torch"]), key=lambda r: float(r["torch"]["train_rest"]), default=None)
if best_t:
    bt = float(best_t["torch"]["train_rest"])
    print(f"best: nnc {best_n['rest']:.0f} ({best_n['threads']} threads), torch {bt:.0f} "
          f"({best_t['threads']} threads): nnc/torch {best_n['rest'] / bt:.2f}")
print()
print(f"prediction, samples/s on the {n_test} test images (batch 128), and test accuracy:")
print(f"{'threads':>7} {'nnc wall':>8} {'nnc comp':>8} {'torch':>8} {'nnc/torch':>9} "
      f"{'nnc acc':>8} {'torch acc':>9}")
for r in runs:
    t = r["torch"]
    print(f"{r['threads']:>7} {num(r['p_wall']):>8} {num(r['p_compute']):>8} "
          f"{num(t.get('predict_b128')):>8} {ratio(r['p_compute'], t.get('predict_b128')):>9} "
          f"{num(r['acc'], '{:.4f}'):>8} {num(t.get('accuracy'), '{:.4f}'):>9}")
print()
print("nnc wall: the whole `nnc predict` command (best of 3); nnc comp: minus the same")
print("command with a one-Dense checkpoint (load, CSV parse, printing); torch: forward")
print("passes over the in-memory test tensor. Per run (seconds):")
for r in runs:
    t = r["torch"]
    print(f"  threads {r['threads']}: nnc epochs {' '.join(f'{s:.2f}' for s in r['epochs'])}, "
          f"other {r['other']:.2f} (CSV read, init, checkpoint); predict {float(r['p_lstm']):.2f}, "
          f"baseline {float(r['p_base']):.2f}"
          + (f"; torch predict in one batch of {n_test}: {num(t.get('predict_full'))}/s" if t else ""))
EOF
