#!/usr/bin/env bash
# csv.sh: CSV parsing speed of nnc's loader, against numpy.loadtxt and
# pandas.read_csv when python3 has them.
#
#   bench/csv.sh [--install]
#
#   --install   apt-get install python3-numpy python3-pandas first (uses
#               sudo when not root)
#   KINDS       environment: files to time (default "pixels reals long")
#   SIZE_MB     environment: size of each file (default 200)
#   RUNS        environment: runs per parser, the best is kept (default 2)
#
# Files (bench/.cache/csv-KIND-SIZE.csv, written once by bench/csv_parse.c's
# generator: a fixed LCG, the same bytes on every machine; a header row):
#   pixels  785 integer columns 0-255 (an MNIST-style CSV)
#   reals   20 columns of %.6g values from 1e-3 to 1e4, both signs
#   long    20 columns of %.17g values (float64 written in full, as pandas
#           and numpy.savetxt do: 16-17 significant digits)
#
# nnc: bench/csv_parse (bench/csv_parse.c linked to build/libnnc.a) opens the
# file with csv_open and reads every column as float32 features with
# csv_read in 1024-row batches: the loader alone, no model. numpy:
# numpy.loadtxt(delimiter=",", skiprows=1, dtype=float32); pandas:
# pandas.read_csv(dtype=float32) (C engine). MB/s = file bytes / 1e6 /
# seconds, by wall time and by CPU (user + system) time; "nnc is" compares
# CPU times (per core, and steadier than wall time on a shared machine).
# One process, one thread each.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
install=0
for a in "$@"; do
    case $a in
    --install) install=1 ;;
    -h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "csv.sh: unknown argument $a" >&2; exit 2 ;;
    esac
done
kinds=${KINDS:-pixels reals long}
size=${SIZE_MB:-200}
runs=${RUNS:-2}
case $size$runs in *[!0-9]*) echo "csv.sh: SIZE_MB and RUNS must be integers" >&2; exit 2 ;; esac
cache=$root/bench/.cache
mkdir -p "$cache"

if [ $install = 1 ]; then
    sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-numpy python3-pandas >&2
fi

# ---- the loader program ---------------------------------------------------------
lib=$root/build/libnnc.a
[ -f "$lib" ] || { echo "csv.sh: $lib not found; run make first" >&2; exit 1; }
prog=$cache/csv_parse
if [ ! -x "$prog" ] || [ "$prog" -ot "$lib" ] || [ "$prog" -ot "$root/bench/csv_parse.c" ]; then
    ${CC:-cc} -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -o "$prog" \
        "$root/bench/csv_parse.c" "$lib" $(pkg-config --libs openblas yaml-0.1) \
        -lcsv -lz -lm -lpthread
fi

# A python3 with numpy (the first of python3 on PATH and /usr/bin/python3).
py=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' 2>/dev/null; then py=$p; break; fi
done
has_pandas=0
[ -n "$py" ] && "$py" -c 'import pandas' 2>/dev/null && has_pandas=1

# ---- machine ------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "machine: $(nproc) CPUs, ${cpu:-unknown CPU}, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nnc:     $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') ($lib)"
if [ -n "$py" ]; then
    echo "python:  $("$py" -c 'import sys, numpy; print(sys.version.split()[0], "numpy", numpy.__version__)')$(
        [ $has_pandas = 1 ] && "$py" -c 'import pandas; print(" pandas", pandas.__version__)')"
else
    echo "python:  no numpy (bench/csv.sh --install); nnc only"
fi
echo "best of $runs runs per parser"
echo

# ---- runs ---------------------------------------------------------------------
rate() { awk -v mb="$1" -v s="$2" 'BEGIN { printf "%.1f", mb / s }'; }
printf '%-7s %7s  %-7s %8s %8s %8s %8s %7s\n' file MB parser wall_s MB/s cpu_s MB/s "nnc is"
for kind in $kinds; do
    csv=$cache/csv-$kind-$size.csv
    if [ ! -s "$csv" ]; then
        echo "csv.sh: writing $csv (once)" >&2
        "$prog" gen "$kind" "$size" > "$csv.tmp"
        mv "$csv.tmp" "$csv"
    fi
    mb=$(awk -v b="$(stat -c %s "$csv")" 'BEGIN { printf "%.1f", b / 1e6 }')
    line=$("$prog" "$csv" "$runs")
    wall=$(printf '%s\n' "$line" | sed -E 's/.*best of [0-9]+: ([0-9.]+) s wall.*/\1/')
    cpu=$(printf '%s\n' "$line" | sed -E 's/.* ([0-9.]+) s CPU.*/\1/')
    printf '%-7s %7s  %-7s %8s %8s %8s %8s\n' "$kind" "$mb" nnc "$wall" "$(rate "$mb" "$wall")" \
        "$cpu" "$(rate "$mb" "$cpu")"
    [ -n "$py" ] || continue
    for parser in numpy pandas; do
        [ $parser = pandas ] && [ $has_pandas = 0 ] && continue
        read -r pwall pcpu < <("$py" - "$csv" "$runs" "$parser" <<'EOF'
import sys, time
import numpy as np
path, runs, parser = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if parser == "pandas":
    import pandas as pd
best_wall = best_cpu = None
for _ in range(runs):
    t, c = time.perf_counter(), time.process_time()
    if parser == "numpy":
        a = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
    else:
        a = pd.read_csv(path, dtype=np.float32).to_numpy()
    t, c = time.perf_counter() - t, time.process_time() - c
    best_wall = t if best_wall is None else min(best_wall, t)
    best_cpu = c if best_cpu is None else min(best_cpu, c)
print(f"{best_wall:.3f} {best_cpu:.3f}")
EOF
)
        ratio=$(awk -v a="$pcpu" -v b="$cpu" 'BEGIN { printf "%.1fx", a / b }')
        printf '%-7s %7s  %-7s %8s %8s %8s %8s %7s\n' "$kind" "$mb" "$parser" "$pwall" \
            "$(rate "$mb" "$pwall")" "$pcpu" "$(rate "$mb" "$pcpu")" "$ratio"
    done
done
