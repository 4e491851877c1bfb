#!/usr/bin/env python3
"""table.py: bench/run's results (JSON lines, bench/.cache/suite-results.jsonl)
as the table and RESULTS.md. Python 3 standard library only.

    python3 bench/table.py RESULTS.jsonl [-o RESULTS.md]

prints the Markdown text (and writes it with -o, keeping whatever follows
the notes marker line in an existing file). bench/suite.py imports it.

Record kinds (one JSON object per line, "kind" first): machine, blas, peak
{threads, n, gflops}, ceiling and ceiling_pool {threads, samples_per_s, gflops}, flops {model,
forward, train, layers}, nnc / torch {id, threads, rate (samples/s) or
seconds, ...; torch also blas}, skip {id, threads, reason}, torch_fail {id,
threads, blas, reason}, end {load_end, seconds}.
"""
import json
import os
import sys

MARKER = "<!-- notes: bench/run keeps everything below this line -->"

# id, label, unit ("rate": samples/s, higher is better; "s": seconds, lower is
# better), the target (ratio nnc/PyTorch, or ("ms", limit) on nnc).
ROWS = [
    ("a-process", "(a) tiny MLP, whole process", "s", 10.0),
    ("a-fit", "(a) tiny MLP, fit loop", "rate", 2.0),
    ("b-train", "(b) MLP 784-512-256-10, training", "rate", 1.0),
    ("c-train", "(c) CNN, training", "rate", 1.2),
    ("d-train", "(d) LSTM(128), training", "rate", 1.2),
    ("e", "(e) predict one row, whole process", "s", ("ms", 10.0)),
    ("f-mlp", "(f) MLP, predict 10k test images", "rate", 1.0),
    ("f-cnn", "(f) CNN, predict 10k test images", "rate", 1.2),
    ("f-lstm", "(f) LSTM, predict 10k test images", "rate", 1.2),
]
MODEL_OF = {"a-fit": "tiny", "b-train": "mlp", "c-train": "cnn", "d-train": "lstm",
            "f-mlp": "mlp", "f-cnn": "cnn", "f-lstm": "lstm"}


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def one(records, kind, **match):
    for r in records:
        if r["kind"] == kind and all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def every(records, kind, **match):
    return [r for r in records if r["kind"] == kind and all(r.get(k) == v for k, v in match.items())]


def fmt_value(v, unit):
    if v is None:
        return "-"
    if unit == "s":
        return f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.2f} s"
    return f"{v:.0f}/s"


def n_threads(t):
    return f"{t} thread" + ("" if t == 1 else "s")


def fmt_ratio(x):
    if x is None:
        return "-"
    return f"{x:.0f}x" if x >= 10 else f"{x:.2f}x"


def value(r, unit):
    if r is None:
        return None
    return r.get("seconds") if unit == "s" else r.get("rate")


def best(records, side, rid, t, unit):
    """side's ("nnc" or "torch") best record of workload rid at t threads,
    over its rounds and (PyTorch) thread configurations; with no figure in
    any, nnc's first record (for its reason), PyTorch's None."""
    runs = every(records, side, id=rid, threads=t)
    tries = [r for r in runs if value(r, unit) is not None]
    if not tries:
        return runs[0] if runs and side == "nnc" else None
    return (min if unit == "s" else max)(tries, key=lambda r: value(r, unit))


def rounds_text(s):
    r = s.get("rounds", 1)
    if r == 1:
        return "one round"
    return (f"{r} rounds, nnc and PyTorch one after the other, which goes first alternating; "
            "the table gives each side's best round")


def round_label(r, s):
    return "" if s.get("rounds", 1) == 1 or r.get("round") is None else f" (round {r['round'] + 1})"


def md_table(header, rows, right=()):
    """A Markdown table padded to line up in plain text too."""
    cells = [header] + rows
    w = [max(len(str(row[i])) for row in cells) for i in range(len(header))]

    def line(row):
        return "| " + " | ".join(str(c).rjust(w[i]) if i in right else str(c).ljust(w[i])
                                 for i, c in enumerate(row)) + " |"
    sep = "|" + "|".join(("-" * (w[i] + 1) + ":") if i in right else ("-" * (w[i] + 2))
                         for i in range(len(header))) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def main_table(records, threads, peaks, notes):
    rows = []
    for rid, label, unit, target in ROWS:
        if not any(r.get("id") == rid for r in records):
            continue
        for t in threads:
            n = best(records, "nnc", rid, t, unit)
            tb = best(records, "torch", rid, t, unit)
            skip = one(records, "skip", id=rid, threads=t)
            nv, tv = value(n, unit), value(tb, unit)
            ratio = None
            if nv and tv:
                ratio = tv / nv if unit == "s" else nv / tv
            if isinstance(target, tuple):
                goal = f"<= {target[1]:g} ms"
                met = None if nv is None else nv * 1e3 <= target[1]
            else:
                goal = f">= {target:g}x"
                met = None if ratio is None else ratio >= target
            gflops = share = "-"
            if unit == "rate" and nv and n.get("flops"):
                g = nv * n["flops"] / 1e9
                gflops = f"{g:.1f}"
                if peaks.get(t):
                    share = f"{100 * g / peaks[t]:.1f}%"
            config = "-"
            if tb:
                config = f"OPENBLAS_NUM_THREADS={tb['blas']}"
            elif any(r["kind"] == "torch_fail" and r["id"] == rid and r["threads"] == t
                     for r in records):
                config = "failed (see below)"
            rows.append([label, t, fmt_value(nv, unit), fmt_value(tv, unit), fmt_ratio(ratio),
                         goal + ("" if met is None else (" yes" if met else " no")),
                         gflops, share, config])
            note = None
            if skip:
                note = f"skipped where nnc shows \"-\": `{skip['reason']}`"
            elif n and nv is None and n.get("why"):
                note = f"nnc \"-\": {n['why']}"
            if note and note not in notes:
                notes.append(note)
    header = ["workload", "threads", "nnc", "PyTorch", "nnc/PyTorch", "target", "nnc GFLOP/s",
              "of peak", "PyTorch's best configuration"]
    return md_table(header, rows, right={1, 2, 3, 4, 6, 7})


def ceiling_table(records, threads):
    """(b) against its GEMM-only ceiling. The target is judged against the
    ceiling timed around nnc's training (ceiling_epoch: the same statistic
    as nnc's rate, in the same minutes), the faster of the two ways of
    threading the products and of the runs before and after; the short-block
    ceiling of the run's start is shown beside it."""
    rows = []
    for t in threads:
        c = one(records, "ceiling", threads=t)
        if not c:
            continue
        n = best(records, "nnc", "b-train", t, "rate")
        tb = best(records, "torch", "b-train", t, "rate")
        pool = one(records, "ceiling_pool", threads=t)
        near = [r["samples_per_s"] for r in every(records, "ceiling_epoch", threads=t)]
        cs = max(near) if near else c["samples_per_s"]
        nv, tv = value(n, "rate"), value(tb, "rate")
        short = max(c["samples_per_s"], pool["samples_per_s"] if pool else 0)
        rows.append([t, f"{c['samples_per_s']:.0f}/s",
                     f"{pool['samples_per_s']:.0f}/s" if pool else "-",
                     "-" if nv is None else f"{nv / short:.2f}",
                     f"{cs:.0f}/s" if near else "-", fmt_value(nv, "rate"),
                     "-" if nv is None else f"{nv / cs:.3f}" + (" yes" if nv / cs >= 0.8 else " no"),
                     fmt_value(tv, "rate"), "-" if tv is None else f"{tv / cs:.2f}"])
    if not rows:
        return None
    return md_table(["threads", "start: OpenBLAS threads", "start: split by nnc",
                     "nnc/start best", "around (b): one epoch's steps", "nnc (b)",
                     "nnc/ceiling (target >= 0.80)", "PyTorch (b)", "PyTorch/ceiling"],
                    rows, right={0, 1, 2, 3, 4, 5, 7, 8})


def render(records):
    m = one(records, "machine") or {}
    blas = one(records, "blas") or {}
    end = one(records, "end") or {}
    threads = m.get("threads") or sorted({r["threads"] for r in records if "threads" in r})
    peaks = {r["threads"]: r["gflops"] for r in every(records, "peak")}
    s = m.get("settings", {})
    out = ["# nnc against PyTorch: bench/run", ""]
    out.append("Generated by `bench/run` (bench/suite.py, bench/table.py); see bench/README.md.")
    out.append("")
    if m.get("quick"):
        out += ["**QUICK=1: a check that every part of the suite runs, with cut epochs, data",
                "and repeats. These figures are not measurements.**", ""]

    out += ["## Machine", ""]
    torch = (f"PyTorch {m['torch']} ({m.get('python')})" if m.get("torch")
             else f"PyTorch: {m.get('torch_why') or 'not run'}")
    tuned = ("tuned as bench/cnn.sh: GLIBC_TUNABLES malloc thresholds, OPENBLAS_CORETYPE="
             f"{blas.get('core', '?')}" if m.get("torch_tuned") else "as Debian ships it (TORCH_TUNED=0)")
    out += [f"- {m.get('date', '?')}, {m.get('cpus', '?')} CPUs, {m.get('cpu', '?')}, "
            f"Linux {m.get('kernel', '?')}",
            f"- load average {m.get('load_start', '?')} at the start, {end.get('load_end', '?')} "
            f"at the end; the whole run took {end.get('seconds', 0) / 60:.1f} min",
            f"- OpenBLAS {m.get('openblas', '?')}, core {blas.get('core', '?')} "
            f"({blas.get('config', '?')})",
            f"- {m.get('nnc', 'nnc ?')} (commit {m.get('commit', '?')}); {torch}"
            + (f"; PyTorch {tuned}" if m.get("torch") else ""),
            f"- starting a process (`true`) from the timer takes {m.get('spawn_ms', 0):.2f} ms "
            "(included in the whole-process figures)", ""]

    out += ["## cblas_sgemm peak", ""]
    for r in every(records, "peak"):
        out.append(f"- {n_threads(r['threads'])}: "
                   f"{r['gflops']:.1f} GFLOP/s ({r['n']} x {r['n']} x {r['n']} single precision, "
                   f"best of {s.get('gemm_repeats', '?')})")
    out.append("")

    notes = []
    out += ["## Results", "", main_table(records, threads, peaks, notes), ""]
    out += ["nnc/PyTorch is nnc's speed over PyTorch's (for whole-process times: PyTorch's "
            "time over nnc's). nnc GFLOP/s = samples/s x FLOPs per sample (below); "
            "of peak = that over the cblas_sgemm peak at the same thread count. PyTorch "
            "runs with torch.set_num_threads(T), set_num_interop_threads(1), "
            "OMP_NUM_THREADS=T and OpenBLAS's pool (OPENBLAS_NUM_THREADS) at 1 and at T "
            "threads; the table gives the faster. nnc runs as shipped with --threads T "
            "(its one pool of T threads; OpenBLAS at one thread, called from the pool).", ""]
    out += [f"- {note}" for note in notes]
    for r in every(records, "torch_fail"):
        out.append(f"- PyTorch failed on {r['id']}, {n_threads(r['threads'])}, OpenBLAS "
                   f"{r['blas']}: `{r['reason']}`")
    if notes or every(records, "torch_fail"):
        out.append("")

    ct = ceiling_table(records, threads)
    if ct:
        out += ["## (b) against its GEMM-only ceiling", "",
                "The ceiling: the sgemm calls of one training step of the MLP at batch 128 "
                "(forward; weight gradients; input gradients but the first layer's), with "
                "nnc's shapes and transposes, timed alone by bench/gemm.c, two ways: with "
                "OpenBLAS's own threads, and split by nnc (OpenBLAS at one thread, each "
                "product split between nnc's pool, src/parallel_gemm.c, as nnc runs them). "
                "\"start\": the best of short blocks at the start of the run. \"around "
                "(b)\": the mean over as many steps as one training epoch, timed right "
                "before and right after nnc trains (b) in each round, the fastest of those "
                "figures (four a round); nnc's figure is its best round; "
                "it is measured as nnc's rate is (the mean over an epoch, in the same "
                "minutes), and the target is judged against it.", "",
                ct, ""]

    out += ["## FLOPs per sample", "",
            "From `nnc summary`'s layer shapes (a multiply-add is 2 FLOPs): Dense and Conv "
            "2 x kernel weights (params - biases) x output positions; LSTM 2 x steps x "
            "4 units x (features + units). Forward F is their sum (biases, activations, "
            "pooling and the loss are not counted); training = 3 F (forward, weight "
            "gradient, input gradient) minus the first weighted layer's input-kernel "
            "part, whose input gradient no one computes.", ""]
    for r in every(records, "flops"):
        parts = ", ".join(f"{x['layer']} {x['flops'] / 1e6:.3f}" for x in r["layers"])
        out.append(f"- {r['model']}: forward {r['forward'] / 1e6:.3f} MFLOP, training "
                   f"{r['train'] / 1e6:.3f} MFLOP ({parts})")
    out.append("")

    out += ["## Settings and details", ""]
    steps = s.get("steps", {})
    ran = {r.get("id") for r in records}
    if ran & {"a-process", "a-fit"}:
        out.append(f"- (a) models/mlp_binary.yaml (rmsprop, binary_crossentropy, accuracy) on "
                   f"1000 x 20 random features with a random 0/1 label, 20 epochs, batch 128; "
                   f"best of {s.get('tiny_runs', '?')} whole `nnc train` processes (reading the "
                   f"CSV, training, writing the checkpoint) against a Python process that imports "
                   f"torch, reads the CSV with numpy, trains and saves its weights. The fit loop: "
                   f"the epochs' training time (nnc's history \"seconds\"), best of the runs.")
    for w, wl in (("mlp", "b"), ("cnn", "c"), ("lstm", "d")):
        if f"{wl}-train" not in ran:
            continue
        st = steps.get(w)
        per = "all 60000 training images" if not st else f"{st} batches of 128 ({st * 128} images)"
        out.append(f"- ({wl}) {w}: {s.get('epochs', '?')} epochs of {per}, batch 128, seed 1; "
                   "samples/s of the epochs after the first (training steps only); "
                   f"{rounds_text(s)}")
    if "e" in ran:
        e = one(records, "nnc", id="e") or {}
        src = ("the (b) checkpoint and weights of the same thread count" if e.get("weights") != "one step"
               else "an MLP checkpoint and weights of one training step ((b) did not run)")
        out.append(f"- (e) {src}; one row of 784 pixels written into the process's standard "
                   f"input through a pipe; best of {s.get('predict1_nnc', '?')} (nnc) and "
                   f"{s.get('predict1_torch', '?')} (PyTorch: start, import torch, load the "
                   "weights, predict, print)")
    if ran & {"f-mlp", "f-cnn", "f-lstm"}:
        warm = any(r.get("warm") is not None for r in every(records, "nnc"))
        how = ("; the same two on the first 128 images alone are taken off both (the start, the "
               "checkpoint's load and the first touches of memory: what PyTorch's warm-up pass "
               "leaves out of its figure), so the rate is the other 9872 rows'" if warm else "")
        out.append(f"- (f) the trained models of (b)-(d) on the 10000 test images, batch 128: nnc, "
                   f"best of {s.get('predict_repeats', '?')} `nnc predict` processes minus the same "
                   "with a one-Dense checkpoint (start, load, reading the IDX images, writing the "
                   "10 probabilities a row as one NPY array: what is left is the forward passes)"
                   f"{how}; "
                   "PyTorch, forward passes over the in-memory test tensor "
                   f"in eval mode under no_grad, best of {s.get('predict_repeats', '?')} after a "
                   f"warm-up pass; each in the rounds of its model's training, {rounds_text(s)}")
    rows = s.get("rows") or {}
    if rows.get("train") or rows.get("test"):
        out.append(f"- PyTorch reads only the first {rows.get('train') or 'all'} training and "
                   f"{rows.get('test') or 'all'} test images; nnc reads the whole IDX files (it "
                   "trains the same few steps; (f) counts the rows it wrote)")
    out.append("")
    det = []
    for r in every(records, "nnc"):
        if "epochs" in r:
            det.append(f"- nnc {r['id']}, {n_threads(r['threads'])}{round_label(r, s)}: epochs "
                       + " ".join(f"{v:.0f}" for v in r["epochs"]) + f" samples/s; whole command "
                       f"{r['wall']:.2f} s")
        elif "baseline" in r:
            acc = r.get("test_accuracy")
            warm = ""
            if r.get("warm") is not None:
                cold = r.get("cold_rate")
                warm = (f"; the first 128 images alone {r['warm'] * 1e3:.1f} ms, baseline "
                        f"{r['warm_baseline'] * 1e3:.1f} ms"
                        + ("" if cold is None else f" ({cold:.0f}/s without taking them off)"))
            det.append(f"- nnc {r['id']}, {n_threads(r['threads'])}{round_label(r, s)}: predict "
                       f"{r['wall']:.3f} s, baseline {r['baseline']:.3f} s, "
                       f"{r['wall_rate']:.0f}/s whole command{warm}"
                       + ("" if acc is None else f"; test accuracy {acc:.4f}"))
    for r in every(records, "torch"):
        v = value(r, "s") if "seconds" in r else value(r, "rate")
        unit = "s" if "seconds" in r else "rate"
        extra = ""
        if r.get("test_accuracy") is not None:
            extra = f"; test accuracy {r['test_accuracy']:.4f}"
        det.append(f"- PyTorch {r['id']}, {n_threads(r['threads'])}{round_label(r, s)}, "
                   f"OPENBLAS_NUM_THREADS={r['blas']}: {fmt_value(v, unit)}{extra}")
    out += det + [""]
    return "\n".join(out)


def write(path, text):
    """Writes text and the notes marker, keeping what followed the marker."""
    kept = ""
    try:
        with open(path) as f:
            old = f.read()
        if MARKER in old:
            kept = old.split(MARKER, 1)[1].lstrip("\n")
    except OSError:
        pass
    with open(path + ".tmp", "w") as f:
        f.write(text.rstrip("\n") + "\n\n" + MARKER + "\n" + (kept or "\n"))
    os.replace(path + ".tmp", path)


def main():
    args = sys.argv[1:]
    out = None
    if len(args) == 3 and args[1] == "-o":
        out = args[2]
    elif len(args) != 1 or args[0].startswith("-"):
        sys.exit("usage: table.py RESULTS.jsonl [-o RESULTS.md]")
    text = render(load(args[0]))
    print(text)
    if out:
        write(out, text)


if __name__ == "__main__":
    main()
