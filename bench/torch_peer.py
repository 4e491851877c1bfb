#!/usr/bin/env python3
"""torch_peer.py: the PyTorch side of bench/run, one workload per process.

    python3 bench/torch_peer.py --workload tiny|mlp|cnn|lstm|predict1 [options]

Workloads (the same models as nnc's, built as Keras builds them):
  tiny      models/mlp_binary.yaml: Dense(64, relu) - Dropout(0.5) -
            Dense(64, relu) - Dropout(0.5) - Dense(1, sigmoid) on the CSV given
            with --csv (features, label last), RMSprop (Keras: lr 1e-3, rho 0.9,
            eps 1e-7), binary cross-entropy, accuracy, batch 128, --epochs 20.
            The process also saves its weights (--save), as nnc train writes
            a checkpoint; bench/run times the whole process.
  mlp       bench/models/mlp.yaml: x/255 - Dense(512, relu) - Dense(256, relu) -
            Dense(10, softmax) on Fashion-MNIST (--data DIR, the IDX files).
  cnn       bench/cnn.yaml, the model of bench/cnn_torch.py (imported from it).
  lstm      bench/models/lstm.yaml: x/255 as 28 steps of 28 pixels -
            LSTM(128) - Dense(10, softmax).
  predict1  one row of 784 values read from standard input (CSV; a header
            line is skipped) through the mlp model with the weights saved by
            an mlp run (--weights), printed as 10 probabilities: bench/run
            times the whole process (start, import torch, load, predict).

mlp, cnn and lstm: Adam (lr 1e-3, betas 0.9/0.999, eps 1e-7 as Keras's),
sparse categorical cross-entropy (softmax + NLL fused as cross_entropy on the
logits), accuracy counted every batch (as Keras's fit does), batch 128, a
fresh shuffle every epoch, the last partial batch kept; --steps N takes the
first N batches of each epoch's shuffle (nnc's --steps-per-epoch);
--train-rows/--test-rows cut the sets to their first rows. Then the
10000 test images are predicted in eval mode under no_grad in batches of 128,
best of --repeats passes after a warm-up pass, and the test accuracy taken.

Initialization as Keras's: glorot-uniform kernels, zero biases; the LSTM's
recurrent kernel orthogonal and its forget-gate bias 1 (unit_forget_bias).
Threads: torch.set_num_threads(--threads), set_num_interop_threads(1);
OpenBLAS's own pool (Debian's torch calls OpenBLAS for Linear layers) is set
by the caller with OPENBLAS_NUM_THREADS.

Timing (time.perf_counter): each epoch's loop over its batches (gather,
forward, loss, metrics, backward, step), like the "seconds" of nnc's history.

Output: human-readable lines on stderr; one JSON object on stdout (predict1
prints the probabilities instead).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class Tiny(nn.Module):
    def __init__(self, n_in):
        super().__init__()
        self.d1, self.d2, self.d3 = nn.Linear(n_in, 64), nn.Linear(64, 64), nn.Linear(64, 1)
        keras_init(self.d1, self.d2, self.d3)

    def forward(self, x):                       # returns the logit
        x = F.dropout(F.relu(self.d1(x)), 0.5, self.training)
        x = F.dropout(F.relu(self.d2(x)), 0.5, self.training)
        return self.d3(x)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.d1, self.d2, self.d3 = nn.Linear(784, 512), nn.Linear(512, 256), nn.Linear(256, 10)
        keras_init(self.d1, self.d2, self.d3)

    def forward(self, x):                       # returns logits
        x = torch.flatten(x, 1) * (1.0 / 255.0)
        x = F.relu(self.d1(x))
        x = F.relu(self.d2(x))
        return self.d3(x)


class LSTM(nn.Module):
    def __init__(self, units=128):
        super().__init__()
        self.lstm = nn.LSTM(28, units, batch_first=True)
        self.dense = nn.Linear(units, 10)
        # torch's weight_ih (4U x F) is Keras's kernel (F x 4U) transposed,
        # gates in the same order (i, f, g/c, o): xavier on it takes the same
        # fan_in F and fan_out 4U. Keras's orthogonal (U x 4U) recurrent
        # kernel has orthonormal rows, torch's (4U x U) orthonormal columns.
        nn.init.xavier_uniform_(self.lstm.weight_ih_l0)
        nn.init.orthogonal_(self.lstm.weight_hh_l0)
        nn.init.zeros_(self.lstm.bias_ih_l0)
        nn.init.zeros_(self.lstm.bias_hh_l0)
        with torch.no_grad():
            self.lstm.bias_ih_l0[units:2 * units] = 1.0   # unit_forget_bias
        keras_init(self.dense)

    def forward(self, x):                       # returns logits
        x = x.reshape(x.shape[0], 28, 28) * (1.0 / 255.0)
        _, (h, _) = self.lstm(x)
        return self.dense(h[-1])


def keras_init(*layers):
    for m in layers:
        nn.init.xavier_uniform_(m.weight)       # = Keras glorot_uniform
        nn.init.zeros_(m.bias)


def build(workload):
    if workload == "cnn":
        from cnn_torch import CNN              # bench/cnn_torch.py's model
        return CNN()
    return {"mlp": MLP, "lstm": LSTM}[workload]()


def predict_rate(model, x, batch, repeats):
    n = x.shape[0]

    def one_pass():
        with torch.no_grad():
            for i in range(0, n, batch):
                model(x[i:i + batch])

    one_pass()                                  # warm-up (allocator, oneDNN primitives)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        one_pass()
        best = min(best, time.perf_counter() - t0)
    return n / best


def fit(model, opt, loss_fn, correct_fn, x, y, epochs, bs, steps, log):
    """Trains; returns each epoch's samples/s and seconds, and the last epoch's loss and accuracy."""
    n = x.shape[0]
    rates, secs, loss_avg, acc = [], [], 0.0, 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(n)
        if steps:
            perm = perm[:steps * bs]
        m = perm.shape[0]
        total, right = 0.0, 0
        t0 = time.perf_counter()
        for i in range(0, m, bs):
            idx = perm[i:i + bs]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            total += loss.item() * idx.shape[0]
            right += correct_fn(out, yb)
        sec = time.perf_counter() - t0
        rates.append(m / sec)
        secs.append(sec)
        loss_avg, acc = total / m, right / m
        log(f"epoch {epoch}: {m} samples, {sec:.2f} s, {m / sec:.0f} samples/s, "
            f"loss {loss_avg:.4f}, accuracy {acc:.4f}")
    return rates, secs, loss_avg, acc


def run_tiny(a, log):
    import numpy as np
    data = np.loadtxt(a.csv, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
    x, y = torch.from_numpy(data[:, :-1].copy()), torch.from_numpy(data[:, -1:].copy())
    model = Tiny(x.shape[1])
    # Keras RMSprop: rms = rho rms + (1 - rho) g^2; w -= lr g / (sqrt(rms) + eps)
    # (keras/optimizers/rmsprop.py), torch's with alpha = rho.
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    rates, secs, loss, acc = fit(model, opt, F.binary_cross_entropy_with_logits,
                           lambda out, yb: int(((out > 0).float() == yb).sum()),
                           x, y, a.epochs, a.batch_size, a.steps, log)
    if a.save:
        torch.save(model.state_dict(), a.save)
    samples = sum(r * s for r, s in zip(rates, secs))
    return {"fit_seconds": sum(secs), "fit_rate": samples / sum(secs), "loss": loss, "accuracy": acc}


def run_trained(a, log):
    from cnn_torch import load                  # IDX via gzip + numpy: N x 1 x 28 x 28 floats 0-255
    x_train, y_train = load(a.data, "train")
    x_test, y_test = load(a.data, "t10k")
    if a.train_rows:
        x_train, y_train = x_train[:a.train_rows], y_train[:a.train_rows]
    if a.test_rows:
        x_test, y_test = x_test[:a.test_rows], y_test[:a.test_rows]
    model = build(a.workload)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    rates, _, loss, acc = fit(model, opt, F.cross_entropy,
                           lambda out, yb: int((out.argmax(1) == yb).sum()),
                           x_train, y_train, a.epochs, a.batch_size, a.steps, log)
    if a.save:
        torch.save(model.state_dict(), a.save)
    model.eval()
    with torch.no_grad():
        logits = model(x_test)
        test_acc = (logits.argmax(1) == y_test).float().mean().item()
    p128 = predict_rate(model, x_test, 128, a.repeats)
    log(f"predict: {p128:.0f} samples/s in batches of 128 on {x_test.shape[0]} images; "
        f"test accuracy {test_acc:.4f}")
    rest = rates[1:] or rates
    return {"train_first": rates[0], "train_rest": sum(rest) / len(rest),
            "train_epochs": rates, "loss": loss, "accuracy": acc,
            "predict_b128": p128, "test_rows": x_test.shape[0], "test_accuracy": test_acc}


def run_predict1(a):
    model = MLP()
    model.load_state_dict(torch.load(a.weights))
    model.eval()
    rows = [line for line in sys.stdin.read().splitlines() if line.strip()]
    if rows and not rows[0].lstrip()[:1].replace("-", "").replace(".", "").isdigit():
        rows = rows[1:]                         # a header line
    x = torch.tensor([[float(v) for v in r.split(",")[:784]] for r in rows])
    with torch.no_grad():
        p = torch.softmax(model(x), 1)
    for r in p.tolist():
        print(",".join(f"{v:.6g}" for v in r))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workload", required=True, choices=["tiny", "mlp", "cnn", "lstm", "predict1"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--steps", type=int, default=0, help="batches per epoch (0: all)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--train-rows", type=int, default=0, help="the first N training images (0: all)")
    p.add_argument("--test-rows", type=int, default=0, help="the first N test images (0: all)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="prediction passes (best of)")
    p.add_argument("--data", help="directory of the Fashion-MNIST IDX files")
    p.add_argument("--csv", help="tiny: the CSV (features, label last)")
    p.add_argument("--save", help="write the trained weights (state_dict) here")
    p.add_argument("--weights", help="predict1: the weights an mlp run saved")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)

    if a.workload == "predict1":
        if not a.weights:
            p.error("predict1 needs --weights")
        run_predict1(a)
        return

    def log(msg):
        print(f"torch {a.workload} threads {a.threads}: {msg}", file=sys.stderr)

    if a.workload == "tiny":
        if not a.csv:
            p.error("tiny needs --csv")
        out = run_tiny(a, log)
    else:
        if not a.data:
            p.error(f"{a.workload} needs --data")
        out = run_trained(a, log)
    out.update(workload=a.workload, threads=a.threads, epochs=a.epochs,
               openblas_threads=os.environ.get("OPENBLAS_NUM_THREADS"), version=torch.__version__)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
