#!/usr/bin/env python3
"""Writes the valid NPY, NPZ and IDX seeds of tests/fuzz/corpus/{npy,npz,idx}
(checked in; this documents how they were made). Standard library only.
Run from the repository root. The malformed files of tests/data_errors are
seeds too (copied as they are)."""
import gzip
import io
import struct
import zipfile

C = "tests/fuzz/corpus/"


def npy(descr, shape, data, fortran=False, major=1):
    text = ("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }"
            % (descr, "True" if fortran else "False", shape)).encode()
    pre = 10 if major == 1 else 12
    hlen = (pre + len(text) + 1 + 63) // 64 * 64 - pre
    header = text + b" " * (hlen - len(text) - 1) + b"\n"
    length = struct.pack("<H" if major == 1 else "<I", hlen)
    return b"\x93NUMPY" + bytes([major, 0]) + length + header + data


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


f4 = struct.pack("<6f", 0.5, -1.0, 2.25, 3.0, -0.0, 1e30)
seeds = {
    "f4_2x3": npy("<f4", "(2, 3)", f4),
    "f8_be_3": npy(">f8", "(3,)", struct.pack(">3d", 1.5, -2.0, 1e-300)),
    "f2_4": npy("<f2", "(4,)", struct.pack("<4H", 0x3c00, 0x7bff, 0x0001, 0xc000)),
    "u1_2x2x2": npy("|u1", "(2, 2, 2)", bytes(range(8))),
    "i8_fortran": npy("<i8", "(2, 2)", struct.pack("<4q", 1, -2, 3, 1 << 24), fortran=True),
    "i2_be_v2": npy(">i2", "(3,)", struct.pack(">3h", -1, 2, 300), major=2),
    "u4_v3": npy("<u4", "(2,)", struct.pack("<2I", 7, 1 << 20), major=3),
    "bool_scalar": npy("|b1", "()", b"\x01"),
    "u8_empty": npy("<u8", "(0, 5)", b""),
}
for name, data in seeds.items():
    write(C + "npy/" + name, data)


def npz(members, method):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


xy = [("x.npy", seeds["f4_2x3"]), ("y.npy", npy("|u1", "(2,)", b"\x00\x01"))]
write(C + "npz/stored", npz(xy, zipfile.ZIP_STORED))
write(C + "npz/deflated", npz(xy, zipfile.ZIP_DEFLATED))
write(C + "npz/keras_names", npz([("x_train.npy", seeds["u1_2x2x2"]),
                                  ("y_train.npy", seeds["bool_scalar"])], zipfile.ZIP_DEFLATED))
zip64 = io.BytesIO()
with zipfile.ZipFile(zip64, "w", zipfile.ZIP_STORED) as z:
    with z.open("x.npy", "w", force_zip64=True) as m:
        m.write(seeds["f8_be_3"])
write(C + "npz/zip64", zip64.getvalue())


def idx(type_code, dims, data):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


write(C + "idx/ubyte_3x2x2", idx(0x08, [3, 2, 2], bytes(range(12))))
write(C + "idx/labels", idx(0x08, [4], b"\x00\x09\x03\x01"))
write(C + "idx/byte", idx(0x09, [2, 2], struct.pack(">4b", -1, 2, -128, 127)))
write(C + "idx/short", idx(0x0b, [3], struct.pack(">3h", -300, 0, 300)))
write(C + "idx/int", idx(0x0c, [2], struct.pack(">2i", 1 << 24, -5)))
write(C + "idx/float", idx(0x0d, [2, 1], struct.pack(">2f", 0.25, -3.5)))
write(C + "idx/double", idx(0x0e, [1, 2], struct.pack(">2d", 1e10, -1e-10)))
write(C + "idx/ubyte_gz", gzip.compress(idx(0x08, [2, 3], bytes(range(6))), mtime=0))
