#!/usr/bin/env python3
"""suite.py: the benchmark suite of bench/run (which installs, builds, then
runs this). Python 3 standard library only; PyTorch runs in its own
processes (bench/torch_peer.py) under the first python3 that imports torch.

    python3 bench/suite.py [--quick] [--threads "1 2"] [--workloads "a b c d e"]
                           [--out FILE] [--nnc BIN] [--gemm BIN]

Measures cblas_sgemm's peak and the MLP step's GEMM-only ceiling (bench/gemm.c),
then for each workload and thread count runs nnc and then PyTorch in each of
its thread configurations, appends every figure as one JSON line to
bench/.cache/suite-results.jsonl, and prints and writes the table
(bench/table.py) to bench/RESULTS.md. See bench/README.md for what each
workload measures and how.
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import table  # noqa: E402  (bench/table.py)

CACHE = os.path.join(HERE, ".cache")
TINY_MODEL = os.path.join(ROOT, "models", "mlp_binary.yaml")
MODELS = {"mlp": os.path.join(HERE, "models", "mlp.yaml"),
          "cnn": os.path.join(HERE, "cnn.yaml"),
          "lstm": os.path.join(HERE, "models", "lstm.yaml")}
TRAIN_WORKLOAD = {"b": "mlp", "c": "cnn", "d": "lstm"}
TIMEOUT = 1800

# Settings: the full run (bench/run), and QUICK=1 (every part in seconds, to
# check that the suite works; its figures mean nothing).
# rows: the Fashion-MNIST rows both sides read (None: all; QUICK reads the
# first rows of each set, to keep nnc's CSV parsing short).
FULL = dict(gemm_size=2048, gemm_repeats=5, gemm_steps=20, tiny_runs=5, epochs=2, rounds=3,
            steps={"mlp": 0, "cnn": 235, "lstm": 150}, predict_repeats=5,
            predict1_nnc=20, predict1_torch=5, rows={"train": None, "test": None})
QUICK = dict(gemm_size=512, gemm_repeats=2, gemm_steps=3, tiny_runs=1, epochs=2, rounds=1,
             steps={"mlp": 5, "cnn": 5, "lstm": 5}, predict_repeats=1,
             predict1_nnc=3, predict1_torch=1, rows={"train": 1280, "test": 1000})
SETTINGS = FULL


def log(msg):
    print(f"bench/run: {msg}", file=sys.stderr, flush=True)


def load_avg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


class Results:
    """The raw figures, one JSON object per line, appended as they come."""

    def __init__(self, path):
        self.path, self.records = path, []
        open(path, "w").close()

    def add(self, kind, **fields):
        rec = {"kind": kind, **fields}
        self.records.append(rec)
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return rec


def run(cmd, env=None, stdin=None, stdout=None, stderr=None, check=True):
    """Runs cmd; returns (wall seconds on the monotonic clock, CompletedProcess).
    stdin: bytes sent through a pipe; stdout/stderr: paths (else captured)."""
    out = open(stdout, "wb") if stdout else subprocess.PIPE
    err = open(stderr, "wb") if stderr else subprocess.PIPE
    try:
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=env, input=stdin, stdout=out, stderr=err, timeout=TIMEOUT)
        t = time.perf_counter() - t0
    finally:
        for f in (out, err):
            if f is not subprocess.PIPE:
                f.close()
    if check and p.returncode != 0:
        raise Failure(cmd, p, stderr)
    return t, p


class Failure(Exception):
    def __init__(self, cmd, p, stderr_path):
        text = p.stderr.decode(errors="replace") if p.stderr else ""
        if stderr_path and os.path.exists(stderr_path):
            with open(stderr_path, errors="replace") as f:
                text = f.read()
        lines = [ln for ln in text.splitlines() if ln.strip()]
        self.reason = lines[-1] if lines else f"exit status {p.returncode}"
        super().__init__(f"{os.path.basename(cmd[0])} {' '.join(cmd[1:3])}: {self.reason}")


def best_of(n, fn):
    """The least of n calls of fn() (each returning seconds), and all of them."""
    times = [fn() for _ in range(n)]
    return min(times), times


# ---- data ----------------------------------------------------------------------

def fashion_dir():
    d = os.environ.get("FASHION_MNIST")
    if not d:
        try:
            files = subprocess.run(["dpkg", "-L", "dataset-fashion-mnist"], capture_output=True,
                                   text=True).stdout.split()
        except OSError:
            files = []
        hits = [f for f in files if re.search(r"/train-images-idx3-ubyte(\.gz)?$", f)]
        d = os.path.dirname(hits[0]) if hits else None
    if not d or not os.path.isdir(d):
        sys.exit("bench/run: Fashion-MNIST not found: install dataset-fashion-mnist "
                 "or set FASHION_MNIST to the directory of its IDX files")
    return d


def idx_file(d, stem):
    for name in (stem + ".gz", stem):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    sys.exit(f"bench/run: no {stem}(.gz) in {d}")


IDX_STEMS = ("images-idx3-ubyte", "labels-idx1-ubyte")


def make_idx(d):
    """Debian's gzipped IDX files of Fashion-MNIST, decompressed once into
    bench/.cache (the same bytes nnc reads from the .gz files, without the
    zlib time in every run, so that the (f) timings and their baseline are
    not dominated by inflating the images)."""
    import gzip
    for split in ("train", "t10k"):
        for stem in IDX_STEMS:
            out = os.path.join(CACHE, f"{split}-{stem}")
            if os.path.exists(out) and os.path.getsize(out) > 0:
                continue
            src = idx_file(d, f"{split}-{stem}")
            log(f"decompressing {src} to {out} (once)")
            with (gzip.open if src.endswith(".gz") else open)(src, "rb") as f, \
                    open(out + ".tmp", "wb") as o:
                shutil.copyfileobj(f, o)
            os.replace(out + ".tmp", out)


# (f)'s warm start: the rows nnc predicts once more alone, whose time is
# taken off (the process's start, the checkpoint's load, first touches).
WARM_ROWS = 128


def head_images(n):
    """An IDX file of the first n test images (bench/.cache), for (f)."""
    import struct
    out = os.path.join(CACHE, f"t10k-first{n}-images-idx3-ubyte")
    if not os.path.exists(out):
        with open(fashion_images("test")[0], "rb") as f:
            magic, _, rows, cols = struct.unpack(">IIII", f.read(16))
            body = f.read(n * rows * cols)
        with open(out + ".tmp", "wb") as o:
            o.write(struct.pack(">IIII", magic, n, rows, cols) + body)
        os.replace(out + ".tmp", out)
    return out


def fashion(split):
    """The data arguments nnc is given for Fashion-MNIST's "train" or "test"
    set: the images then the labels, as IDX files (nnc reads IDX as the
    arrays the PyTorch side loads with numpy: 0-255 bytes, class indices).
    QUICK reads the whole sets too (training stops after its few steps;
    prediction figures count the rows nnc wrote)."""
    name = "t10k" if split == "test" else "train"
    return [os.path.join(CACHE, f"{name}-{stem}") for stem in IDX_STEMS]


def fashion_images(split):
    """The features only (`nnc predict`)."""
    return fashion(split)[:1]


def npy_rows(path):
    """The first axis of an NPY file's shape (from its header; no numpy)."""
    import ast
    import struct
    with open(path, "rb") as f:
        head = f.read(10)
        if head[:6] != b"\x93NUMPY":
            raise ValueError(f"{path}: not an NPY file")
        if head[6] == 1:   # version 1.0: a 2-byte header length, else 4 bytes
            n = struct.unpack("<H", head[8:10])[0]
        else:
            n = struct.unpack("<I", head[8:10] + f.read(2))[0]
        return ast.literal_eval(f.read(n).decode("latin1"))["shape"][0]


def make_tiny():
    """The seed's data: 1000 x 20 uniform [0, 1) features and a 0/1 label
    (the Keras guide's np.random.random((1000, 20)), randint(2)), from
    Python's Mersenne Twister with seed 1: the same file on every machine."""
    path = os.path.join(CACHE, "tiny-1000x20.csv")
    if not os.path.exists(path):
        r = random.Random(1)
        with open(path + ".tmp", "w") as f:
            f.write(",".join(f"f{i}" for i in range(20)) + ",label\n")
            for _ in range(1000):
                f.write(",".join(f"{r.random():.6f}" for _ in range(20)) + f",{r.randrange(2)}\n")
        os.replace(path + ".tmp", path)
    return path


def one_row():
    """The first test image's 784 pixels as one CSV line (no header, no label)."""
    with open(fashion_images("test")[0], "rb") as f:
        pixels = f.read(16 + 784)[16:]   # the IDX header: magic, count, 28, 28
    return (",".join(str(p) for p in pixels) + "\n").encode()


# ---- FLOPs ---------------------------------------------------------------------

GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}


def flops(summary):
    """FLOPs per sample from `nnc summary`'s layer rows (type, output shape,
    params; tf.keras 2's fixed columns). A multiply-add is 2 FLOPs.
      Dense, Conv*: 2 x (params - bias) x positions (output elements / units)
      RNN: 2 x T x gates*units x (features + units) (input and recurrent kernels)
    forward = the sum (element-wise work - bias, activations, pooling - is not
    counted); training = 3 x forward (forward, weight gradient, input gradient)
    minus the input-kernel part of the first layer with weights, whose input
    gradient no one needs."""
    layers, prev, first_in = [], None, None
    for line in summary.splitlines():
        m = re.match(r"^(\S+) \((\w+)\)?\s", line)
        if not m or len(line) < 56:
            continue
        kind, shape, params = m.group(2), line[29:55].strip(), line[55:].strip().replace(",", "")
        if not shape.startswith("(") or not params.isdigit():
            continue
        dims = [int(v) for v in re.findall(r"\d+", shape)]
        params = int(params)
        f_in = f_rec = 0
        if params and (kind.startswith("Dense") or kind.startswith("Conv")) and "Transpose" not in kind:
            units, positions = dims[-1], 1
            for v in dims[:-1]:
                positions *= v
            f_in = 2 * (params - units) * positions
        elif params and kind in GATES:
            if not prev or len(prev) < 2:
                raise ValueError(f"{kind}: no (steps, features) input shape in the summary")
            steps, feats, units = prev[0], prev[-1], dims[-1]
            f_in = 2 * steps * GATES[kind] * units * feats
            f_rec = 2 * steps * GATES[kind] * units * units
        if f_in and first_in is None:
            first_in = f_in
        if f_in or f_rec:
            layers.append({"layer": m.group(1), "type": kind, "flops": f_in + f_rec})
        prev = dims
    forward = sum(layer["flops"] for layer in layers)
    return {"forward": forward, "train": 3 * forward - (first_in or 0), "layers": layers}


# ---- the suite ---------------------------------------------------------------------

class Suite:
    def __init__(self, a):
        self.a, self.s = a, SETTINGS
        self.threads = [int(t) for t in a.threads.split()]
        self.workloads = a.workloads.split()
        self.res = Results(os.path.join(CACHE, "suite-results.jsonl"))
        self.nnc_env = {k: v for k, v in os.environ.items()
                        if k not in ("NNC_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
        self.py = self.find_torch()
        self.core = None
        self.ckpt = {}       # (workload, T) -> nnc checkpoint
        self.torch_w = {}    # (workload, T) -> PyTorch state_dict file
        self.baseline_made = False  # bench/.cache/baseline.model, for (f)

    def find_torch(self):
        if os.environ.get("TORCH", "1") == "0":
            self.torch_why = "not run (TORCH=0)"
            return None
        for p in (os.environ.get("PYTHON") or "python3 /usr/bin/python3").split():
            try:
                if subprocess.run([p, "-c", "import torch, numpy"], capture_output=True).returncode == 0:
                    return shutil.which(p) or p
            except OSError:
                pass
        self.torch_why = "no python3 here imports torch and numpy (install python3-torch)"
        return None

    # -- machine, peak ----------------------------------------------------------------
    def machine(self):
        cpu = "unknown CPU"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        git = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
        blas = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libopenblas0-pthread"],
                              capture_output=True, text=True).stdout.strip()
        tv = None
        if self.py:
            tv = subprocess.run([self.py, "-c", "import torch; print(torch.__version__)"],
                                capture_output=True, text=True).stdout.strip()
        spawn, _ = best_of(20, lambda: run(["true"])[0])
        self.res.add("machine", cpu=cpu, cpus=os.cpu_count(), load_start=load_avg(),
                     kernel=platform.release(), openblas=blas or "?",
                     nnc=run([self.a.nnc, "--version"])[1].stdout.decode().strip(),
                     commit=git or "?", torch=tv, python=self.py,
                     torch_why=None if self.py else self.torch_why,
                     torch_tuned=os.environ.get("TORCH_TUNED", "1") != "0",
                     date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                     quick=self.a.quick, threads=self.threads, spawn_ms=spawn * 1e3,
                     settings={k: v for k, v in self.s.items()})

    def gemm(self):
        # The peak at 1 and all threads, and at every thread count of the run.
        threads = " ".join(str(t) for t in sorted(set(self.threads) | {1, os.cpu_count() or 1}))
        log(f"cblas_sgemm peak and the MLP step's GEMM-only ceiling (threads {threads})")
        s = self.s
        _, p = run([self.a.gemm, "--threads", threads, "--size", str(s["gemm_size"]),
                    "--repeats", str(s["gemm_repeats"]), "--steps", str(s["gemm_steps"])],
                   env=self.nnc_env)
        for line in p.stdout.decode().splitlines():
            rec = json.loads(line)
            kind = rec.pop("kind")
            if kind == "core":
                self.core = rec["core"]
            self.res.add({"core": "blas", "peak": "peak", "mlp": "ceiling",
                          "mlp_pool": "ceiling_pool"}[kind], **rec)

    def epoch_ceiling(self, t, steps, when):
        """(b)'s GEMM-only ceiling in the minutes nnc trains it, measured the
        way nnc's rate is: the mean over as many steps as one training epoch
        (nnc's rate is the mean over its epochs after the first). The
        ceiling of gemm() above is the best of short blocks at the start of
        the run, minutes away: on a shared machine whose speed drifts by a
        third from one minute to the next, a ratio against it says more
        about the drift than about nnc."""
        n = steps or -(-(SETTINGS["rows"]["train"] or n_rows("train")) // 128)
        try:
            _, p = run([self.a.gemm, "--threads", str(t), "--size", "0", "--repeats", "1",
                        "--steps", str(n)], env=self.nnc_env)
        except Failure as e:
            log(f"(b) epoch ceiling {when}: {e.reason}")
            return
        for line in p.stdout.decode().splitlines():
            rec = json.loads(line)
            kind = rec.pop("kind")
            if kind in ("mlp", "mlp_pool"):
                self.res.add("ceiling_epoch", way="openblas" if kind == "mlp" else "pool",
                             when=when, **rec)

    # -- PyTorch ------------------------------------------------------------------
    def torch_configs(self, t):
        """PyTorch's thread configurations for t threads: set_num_threads(t) with
        OpenBLAS's own pool at 1 and at t threads (one config when t is 1)."""
        return sorted({1, t})

    def torch_env(self, t, blas):
        env = dict(os.environ, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(blas))
        if os.environ.get("TORCH_TUNED", "1") != "0":
            # bench/cnn.sh's tuned setting: malloc keeps torch's per-batch
            # buffers instead of mapping them afresh, and OpenBLAS uses the
            # kernels nnc selects for this CPU (src/blas_select.c).
            env["GLIBC_TUNABLES"] = ("glibc.malloc.mmap_threshold=33554432:"
                                     "glibc.malloc.trim_threshold=268435456")
            if self.core and "OPENBLAS_CORETYPE" not in os.environ:
                env["OPENBLAS_CORETYPE"] = self.core
        return env

    def peer_rows(self):
        rows = self.s["rows"]
        return ([f"--train-rows={rows['train']}"] if rows["train"] else []) + \
            ([f"--test-rows={rows['test']}"] if rows["test"] else [])

    def peer(self, workload, t, blas, *args, stdin=None, stderr=None):
        cmd = [self.py, os.path.join(HERE, "torch_peer.py"), "--workload", workload,
               "--threads", str(t), *args]
        return run(cmd, env=self.torch_env(t, blas), stdin=stdin, stderr=stderr)

    # -- (a) the tiny MLP, whole process ------------------------------------------
    def tiny(self, t):
        data, n = make_tiny(), self.s["tiny_runs"]
        fl = self.model_flops("tiny", TINY_MODEL)
        if fl is None:
            return
        out = os.path.join(CACHE, f"tiny-t{t}.model")
        fits = []

        def nnc_once():
            sec, _ = run([self.a.nnc, "train", TINY_MODEL, data, "--seed", "1", "-v", "0",
                          "--threads", str(t), "-o", out], env=self.nnc_env)
            fits.append(history_rate(out, 1000))
            return sec

        log(f"(a) tiny MLP, threads {t}: nnc train, best of {n}")
        try:
            wall, walls = best_of(n, nnc_once)
        except Failure as e:
            for rid in ("a-process", "a-fit"):
                self.res.add("skip", id=rid, threads=t, reason=e.reason)
            return
        self.res.add("nnc", id="a-process", threads=t, seconds=wall, runs=walls)
        self.res.add("nnc", id="a-fit", threads=t, rate=max(fits), runs=fits, flops=fl["train"])
        if not self.py:
            return
        for blas in self.torch_configs(t):
            log(f"(a) tiny MLP, threads {t}: PyTorch (OpenBLAS {blas}), best of {n}")
            fits_t = []

            def torch_once():
                sec, p = self.peer("tiny", t, blas, "--csv", data, "--epochs", "20",
                                   "--save", os.path.join(CACHE, f"tiny-torch-t{t}.pt"),
                                   stderr=os.path.join(CACHE, f"tiny-torch-t{t}-b{blas}.log"))
                fits_t.append(json.loads(p.stdout.decode().splitlines()[-1])["fit_rate"])
                return sec

            try:
                wall, walls = best_of(n, torch_once)
            except Failure as e:
                self.res.add("torch_fail", id="a-process", threads=t, blas=blas, reason=e.reason)
                continue
            self.res.add("torch", id="a-process", threads=t, blas=blas, seconds=wall, runs=walls)
            self.res.add("torch", id="a-fit", threads=t, blas=blas, rate=max(fits_t), runs=fits_t)

    # -- (b), (c), (d) training and (f) prediction on the 10k test set ---------------
    def trained(self, wl, t):
        """Rounds of nnc and PyTorch one after the other, the order swapped
        each round, so that a slow minute of the shared machine falls on
        each side in turn; the table takes each side's best round."""
        w = TRAIN_WORKLOAD[wl]
        fl = self.model_flops(w, MODELS[w])
        if fl is None:
            return
        for rnd in range(self.s["rounds"]):
            sides = [lambda: self.nnc_trained(wl, t, fl, rnd), lambda: self.torch_trained(wl, t, rnd)]
            for side in (sides if rnd % 2 == 0 else sides[::-1]):
                side()

    def nnc_trained(self, wl, t, fl, rnd):
        w = TRAIN_WORKLOAD[wl]
        model, steps, epochs = MODELS[w], self.s["steps"][w], self.s["epochs"]
        out = os.path.join(CACHE, f"{w}-t{t}.model")
        args = ["--epochs", str(epochs), "--seed", "1", "-v", "2", "--threads", str(t), "-o", out]
        if steps:
            args += ["--steps-per-epoch", str(steps)]
        log(f"({wl}) {w}, threads {t}, round {rnd + 1}: nnc train (load {load_avg()})")
        if w == "mlp":
            self.epoch_ceiling(t, steps, "before")
        try:
            wall, _ = run([self.a.nnc, "train", model, *fashion("train"), *args], env=self.nnc_env,
                          stderr=os.path.join(CACHE, f"{w}-t{t}.log"))
            if w == "mlp":
                self.epoch_ceiling(t, steps, "after")
        except Failure as e:
            self.res.add("skip", id=f"{wl}-train", threads=t, reason=e.reason)
            self.res.add("skip", id=f"f-{w}", threads=t, reason=e.reason)
            return
        self.ckpt[(w, t)] = out
        rates = history_rates(out, steps * 128 if steps else None)
        rest = rates[1:] or rates
        self.res.add("nnc", id=f"{wl}-train", threads=t, rate=sum(rest) / len(rest), epochs=rates,
                     wall=wall, flops=fl["train"], samples=(steps * 128 if steps else "all"),
                     round=rnd)

        log(f"(f) {w}, threads {t}, round {rnd + 1}: nnc predict on the test set, best of "
            f"{self.s['predict_repeats']}")
        pred, base, warm, n_test = self.predict10k(out, t)
        _, p = run([self.a.nnc, "evaluate", out, *fashion("test"), "--json", "--batch-size", "128",
                    "--threads", str(t)], env=self.nnc_env)
        acc = json.loads(p.stdout.decode()).get("accuracy")
        comp = (pred - warm["model"]) - (base - warm["baseline"])
        rows = n_test - WARM_ROWS
        why = None if comp > 0 else ("(f): `nnc predict` was not slower than the baseline's "
                                     "load, parse and print: the forward passes are within "
                                     "the noise")
        self.res.add("nnc", id=f"f-{w}", threads=t, rate=rows / comp if comp > 0 else None, why=why,
                     wall=pred, baseline=base, warm=warm["model"], warm_baseline=warm["baseline"],
                     wall_rate=n_test / pred, rows=n_test, flops=fl["forward"], test_accuracy=acc,
                     cold_rate=n_test / (pred - base) if pred > base else None, round=rnd)

    def torch_trained(self, wl, t, rnd):
        w = TRAIN_WORKLOAD[wl]
        steps, epochs = self.s["steps"][w], self.s["epochs"]
        if not self.py:
            return
        for blas in self.torch_configs(t):
            log(f"({wl}) {w}, threads {t}, round {rnd + 1}: PyTorch (OpenBLAS {blas}; "
                f"load {load_avg()})")
            save = os.path.join(CACHE, f"{w}-torch-t{t}.pt")
            try:
                _, p = self.peer(w, t, blas, "--data", DATA, "--epochs", str(epochs),
                                 "--steps", str(steps), "--repeats", str(self.s["predict_repeats"]),
                                 "--save", save, *self.peer_rows(),
                                 stderr=os.path.join(CACHE, f"{w}-torch-t{t}-b{blas}.log"))
            except Failure as e:
                self.res.add("torch_fail", id=f"{wl}-train", threads=t, blas=blas, reason=e.reason)
                continue
            self.torch_w[(w, t)] = save
            r = json.loads(p.stdout.decode().splitlines()[-1])
            self.res.add("torch", id=f"{wl}-train", threads=t, blas=blas, rate=r["train_rest"],
                         epochs=r["train_epochs"], round=rnd)
            self.res.add("torch", id=f"f-{w}", threads=t, blas=blas, rate=r["predict_b128"],
                         test_accuracy=r["test_accuracy"], round=rnd)

    def predict10k(self, ckpt, t):
        """Best wall seconds of `nnc predict --batch-size 128` on the test
        images (IDX in, the probabilities out as one float32 NPY array, as
        PyTorch's side keeps them as a tensor), of the same with a one-Dense
        checkpoint (start, load, convert, write), both again on the first
        WARM_ROWS images alone ({"model", "baseline"}), and the rows
        predicted. The four commands take turns, so that a slow stretch of
        the machine falls on each of them alike."""
        out = os.path.join(CACHE, "predict.npy")
        bout = os.path.join(CACHE, "baseline.model")
        if not self.baseline_made:
            base = os.path.join(CACHE, "baseline.yaml")
            with open(base, "w") as f:
                f.write("# bench/run: predict baseline (written by bench/suite.py): it reads the\n"
                        "# same images and writes the same 10 columns, ~no compute\n"
                        "name: predict_baseline\nlayers:\n"
                        "  - Dense: {units: 10, activation: softmax, input_shape: [784]}\n"
                        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n")
            run([self.a.nnc, "train", base, *fashion("test"), "--epochs", "1", "--steps-per-epoch",
                 "1", "--batch-size", "128", "-v", "0", "--seed", "1", "--threads", "1", "-o", bout],
                env=self.nnc_env)
            self.baseline_made = True
        cmds = {(c, k): [self.a.nnc, "predict", path, images, "--batch-size", "128", "--threads",
                         str(t), "--format", "npy", "-o", out]
                for c, path in (("model", ckpt), ("baseline", bout))
                for k, images in (("all", fashion_images("test")[0]),
                                  ("warm", head_images(WARM_ROWS)))}
        best = {key: float("inf") for key in cmds}
        rows = None
        for _ in range(self.s["predict_repeats"]):
            for key, cmd in cmds.items():
                best[key] = min(best[key], run(cmd, env=self.nnc_env)[0])
                if key == ("model", "all"):
                    rows = npy_rows(out)
        return (best[("model", "all")], best[("baseline", "all")],
                {"model": best[("model", "warm")], "baseline": best[("baseline", "warm")]}, rows)

    # -- (e) one row through a pipe, whole process ---------------------------------
    def predict1(self, t):
        row = one_row()
        ckpt, weights = self.ckpt.get(("mlp", t)), "b"
        if not ckpt:
            weights = "one step"   # (b) did not run: a checkpoint of one training step
            ckpt = os.path.join(CACHE, f"mlp-1step-t{t}.model")
            log(f"(e) threads {t}: a one-step mlp checkpoint for nnc")
            run([self.a.nnc, "train", MODELS["mlp"], *fashion("train"), "--epochs", "1",
                 "--steps-per-epoch", "1", "-v", "0", "--seed", "1", "--threads", str(t),
                 "-o", ckpt], env=self.nnc_env)
        n = self.s["predict1_nnc"]
        log(f"(e) threads {t}: nnc predict, one row through a pipe, best of {n}")
        cmd = [self.a.nnc, "predict", ckpt, "-", "--threads", str(t)]
        sec, runs = best_of(n, lambda: run(cmd, env=self.nnc_env, stdin=row)[0])
        self.res.add("nnc", id="e", threads=t, seconds=sec, runs=runs, weights=weights)
        if not self.py:
            return
        weights = self.torch_w.get(("mlp", t))
        if not weights:   # (b) did not run here
            weights = os.path.join(CACHE, f"mlp-torch-1step-t{t}.pt")
            log(f"(e) threads {t}: one-step mlp weights for PyTorch")
            self.peer("mlp", t, 1, "--data", DATA, "--epochs", "1", "--steps", "1", "--repeats", "1",
                      "--save", weights, *self.peer_rows())
        n = self.s["predict1_torch"]
        for blas in self.torch_configs(t):
            log(f"(e) threads {t}: PyTorch (OpenBLAS {blas}), one row through a pipe, best of {n}")
            try:
                sec, runs = best_of(n, lambda: self.peer("predict1", t, blas, "--weights", weights,
                                                         stdin=row)[0])
            except Failure as e:
                self.res.add("torch_fail", id="e", threads=t, blas=blas, reason=e.reason)
                continue
            self.res.add("torch", id="e", threads=t, blas=blas, seconds=sec, runs=runs)

    def model_flops(self, name, path):
        """FLOPs of a model nnc loads; None (and a "skip" record) when it does not."""
        _, p = run([self.a.nnc, "summary", path], env=self.nnc_env, check=False)
        if p.returncode != 0:
            reason = (p.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
            reason = reason.replace(ROOT + os.sep, "")
            log(f"{name}: skipped: {reason}")
            for rid in {"mlp": ["b-train", "f-mlp"], "cnn": ["c-train", "f-cnn"],
                        "lstm": ["d-train", "f-lstm"], "tiny": ["a-fit"]}[name]:
                for t in self.threads:
                    self.res.add("skip", id=rid, threads=t, reason=reason)
            return None
        fl = flops(p.stdout.decode())
        if not any(r["kind"] == "flops" and r["model"] == name for r in self.res.records):
            self.res.add("flops", model=name, **fl)
        return fl

    def main(self):
        start = time.perf_counter()
        self.machine()
        self.gemm()
        for wl in self.workloads:
            for t in self.threads:
                if wl == "a":
                    self.tiny(t)
                elif wl in TRAIN_WORKLOAD:
                    self.trained(wl, t)
                elif wl == "e":
                    self.predict1(t)
        self.res.add("end", load_end=load_avg(), seconds=time.perf_counter() - start)
        text = table.render(self.res.records)
        print(text)
        table.write(self.a.out, text)
        log(f"wrote {self.a.out} (raw figures: {self.res.path})")


def history_rates(ckpt, per_epoch):
    """Samples/s of each epoch from the checkpoint's history ("seconds" covers
    the epoch's training steps only); per_epoch None: the whole training set."""
    with open(os.path.join(ckpt, "model.json")) as f:
        h = json.load(f)["nnc"]["history"]
    sec = h["columns"].index("seconds")
    n = per_epoch or SETTINGS["rows"]["train"] or n_rows("train")
    return [n / row[sec] for row in h["rows"]]


def history_rate(ckpt, n_per_epoch):
    """Samples/s over all the epochs of the checkpoint's history."""
    with open(os.path.join(ckpt, "model.json")) as f:
        h = json.load(f)["nnc"]["history"]
    sec = h["columns"].index("seconds")
    return n_per_epoch * len(h["rows"]) / sum(row[sec] for row in h["rows"])


def n_rows(split):
    """Images in Fashion-MNIST's "train" or "t10k" set, from its IDX header."""
    import gzip
    import struct
    path = idx_file(DATA, f"{split}-labels-idx1-ubyte")
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        return struct.unpack(">I", f.read(8)[4:])[0]


DATA = None


def main():
    global DATA, SETTINGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", default=os.environ.get("QUICK", "0") not in ("", "0"),
                   help="every part in seconds, to check the suite works (also QUICK=1)")
    p.add_argument("--threads", default=os.environ.get("THREADS", "1 2"))
    p.add_argument("--workloads", default=os.environ.get("WORKLOADS", "a b c d e"),
                   help="of a b c d e ((f) comes with b, c, d)")
    p.add_argument("--out", default=os.environ.get("RESULTS"))
    p.add_argument("--nnc", default=os.path.join(ROOT, "build", "nnc"))
    p.add_argument("--gemm", default=os.path.join(ROOT, "build", "bench-gemm"))
    p.add_argument("--flops", metavar="SUMMARY",
                   help="only print the FLOPs per sample of an `nnc summary` output (- for stdin)")
    a = p.parse_args()
    if a.flops:
        with (sys.stdin if a.flops == "-" else open(a.flops)) as f:
            print(json.dumps(flops(f.read())))
        return
    for t in a.threads.split() or ["?"]:
        if not t.isdigit() or int(t) < 1:
            p.error(f"--threads: '{t}' is not a positive integer")
    for w in a.workloads.split():
        if w not in ("a", "b", "c", "d", "e"):
            p.error(f"--workloads: unknown workload '{w}' (of a b c d e)")
    SETTINGS = QUICK if a.quick else FULL
    if not a.out:
        a.out = os.path.join(CACHE, "RESULTS-quick.md") if a.quick else os.path.join(HERE, "RESULTS.md")
    for b in (a.nnc, a.gemm):
        if not os.access(b, os.X_OK):
            sys.exit(f"bench/run: {b} not found: run bench/run (it builds it) or make")
    os.makedirs(CACHE, exist_ok=True)
    DATA = fashion_dir()
    make_idx(DATA)
    Suite(a).main()


if __name__ == "__main__":
    main()
