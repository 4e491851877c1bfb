#!/usr/bin/env python3
"""lstm_torch.py: the PyTorch peer of bench/lstm.yaml, for bench/lstm.sh.

    python3 bench/lstm_torch.py DIR [--threads T] [--epochs E] [--seed S] [--limit N]

DIR holds Fashion-MNIST's four IDX files (train-images-idx3-ubyte.gz,
train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,
t10k-labels-idx1-ubyte.gz; gzipped or not), read with gzip + numpy.

The model is the one in bench/lstm.yaml, built as Keras builds it: each
image is 28 steps (rows) of 28 features (pixels),
    x / 255 -> LSTM(128), its last output -> Dense(10, softmax)
with Keras's initial weights: glorot-uniform input kernels (torch's
weight_ih, (4 * 128, 28), fans 28 and 512 as Keras's (28, 512) kernel),
orthogonal recurrent kernels, zero biases except the forget gate's 1
(unit_forget_bias; torch has two bias vectors, b_ih and b_hh, which add:
b_ih carries Keras's bias, b_hh stays 0, so the initial sums agree),
torch's gate order i, f, g, o being Keras's i, f, c, o; Adam(lr 1e-3,
betas 0.9/0.999, eps 1e-7 as in Keras), sparse categorical cross-entropy
(fused as cross_entropy on the logits), batch 128 with the last partial
batch kept, a fresh shuffle every epoch.

Timing (time.perf_counter):
  - training: each epoch's loop over the batches (gather of the batch from
    the in-memory tensor, forward, loss, backward, Adam step), like the
    "seconds" nnc records in its history; loading and converting the data
    are outside it.
  - prediction: the 10000 test images already in memory as a float tensor
    (scaled in the model's first step, as nnc's Rescaling layer does), in
    eval mode under torch.no_grad(): in batches of 128 ("predict_b128",
    as `nnc predict --batch-size 128`) and as one batch of 10000
    ("predict_full"); each the best of 3 passes after one warm-up pass.
  - test accuracy: argmax of the predictions after the last epoch.

Output: one human-readable line per epoch and per prediction mode on
stderr, then one machine-readable line on stdout:
    torch threads=T epochs=E train_first=S/s train_rest=S/s \
      predict_b128=S/s predict_full=S/s accuracy=A loss=L version=V
(train_rest is the mean samples/s of the epochs after the first; it equals
train_first when E is 1.)
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        sys.exit(f"lstm_torch.py: {path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    sys.exit(f"lstm_torch.py: no {stem}(.gz) in {directory}")


def load(directory, split):
    x = read_idx(find(directory, f"{split}-images-idx3-ubyte"))
    y = read_idx(find(directory, f"{split}-labels-idx1-ubyte"))
    if x.shape[0] != y.shape[0]:
        sys.exit(f"lstm_torch.py: {split}: {x.shape[0]} images but {y.shape[0]} labels")
    # Raw 0-255 pixels as float32, N x 28 (steps) x 28 (features); the
    # model scales them.
    return (torch.from_numpy(x.astype(np.float32)),
            torch.from_numpy(y.astype(np.int64)))


class LSTMNet(nn.Module):
    def __init__(self, units=128):
        super().__init__()
        self.lstm = nn.LSTM(28, units, batch_first=True)
        self.dense = nn.Linear(units, 10)
        nn.init.xavier_uniform_(self.lstm.weight_ih_l0)     # = Keras glorot_uniform
        # Keras's orthogonal initializer on the (units, 4 units) recurrent
        # kernel: torch's weight_hh is its transpose (4 units, units).
        r = torch.empty(units, 4 * units)
        nn.init.orthogonal_(r)
        with torch.no_grad():
            self.lstm.weight_hh_l0.copy_(r.t())
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_ih_l0[units:2 * units] = 1.0     # unit_forget_bias
            self.lstm.bias_hh_l0.zero_()
        nn.init.xavier_uniform_(self.dense.weight)
        nn.init.zeros_(self.dense.bias)

    def forward(self, x):                       # returns logits
        x = x * (1.0 / 255.0)                   # Rescaling(1/255)
        out, _ = self.lstm(x)
        return self.dense(out[:, -1])


def predict_rate(model, x, batch):
    n = x.shape[0]

    def one_pass():
        with torch.no_grad():
            for i in range(0, n, batch):
                model(x[i:i + batch])

    one_pass()                                  # warm-up (allocator, oneDNN primitives)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        one_pass()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", help="directory with the Fashion-MNIST IDX files")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--limit", type=int, default=0,
                   help="train on the first N images only (0: all; for quick checks)")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)

    x_train, y_train = load(a.data, "train")
    x_test, y_test = load(a.data, "t10k")
    if a.limit > 0:
        x_train, y_train = x_train[:a.limit], y_train[:a.limit]
    n = x_train.shape[0]
    bs = a.batch_size

    model = LSTMNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)

    rates = []
    for epoch in range(1, a.epochs + 1):
        model.train()
        total, t0 = 0.0, time.perf_counter()
        perm = torch.randperm(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            xb, yb = x_train[idx], y_train[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * idx.shape[0]
        sec = time.perf_counter() - t0
        rates.append(n / sec)
        print(f"torch threads {a.threads} epoch {epoch}: {sec:.2f} s, {n / sec:.0f} samples/s, "
              f"loss {total / n:.4f}", file=sys.stderr)

    model.eval()
    with torch.no_grad():
        logits = model(x_test)
        test_loss = F.cross_entropy(logits, y_test).item()
        accuracy = (logits.argmax(1) == y_test).float().mean().item()
    p128 = predict_rate(model, x_test, 128)
    pfull = predict_rate(model, x_test, x_test.shape[0])
    print(f"torch threads {a.threads} predict: {p128:.0f} samples/s in batches of 128, "
          f"{pfull:.0f} samples/s in one batch of {x_test.shape[0]}; "
          f"test loss {test_loss:.4f}, accuracy {accuracy:.4f}", file=sys.stderr)

    rest = rates[1:] or rates
    print(f"torch threads={a.threads} epochs={a.epochs} train_first={rates[0]:.0f} "
          f"train_rest={sum(rest) / len(rest):.0f} predict_b128={p128:.0f} "
          f"predict_full={pfull:.0f} accuracy={accuracy:.4f} loss={test_loss:.4f} "
          f"version={torch.__version__}")


if __name__ == "__main__":
    main()
