#!/usr/bin/env python3
"""Writes the malformed NPY, NPZ and IDX files of tests/data_errors (the
files are checked in; this script documents how each was made and can
remake them). Standard library only. Run from the repository root."""
import gzip
import struct
import zlib

D = "tests/data_errors/"


def npy(dict_text, data=b"", major=1, raw_len=None):
    pre = 10 if major == 1 else 12
    text = dict_text.encode()
    hlen = (pre + len(text) + 1 + 63) // 64 * 64 - pre
    header = text + b" " * (hlen - len(text) - 1) + b"\n"
    length = struct.pack("<H" if major == 1 else "<I", raw_len if raw_len is not None else hlen)
    return b"\x93NUMPY" + bytes([major, 0]) + length + header + data


def dict_of(descr, shape, fortran=False):
    return "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", shape)


def zip_of(members):
    """members: (name, uncompressed bytes, method, deflate_extra, uncomp_lie, crc_xor)."""
    out, cd = b"", b""
    for name, data, method, extra, lie, crc_xor in members:
        if method == 8:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            payload = c.compress(data + extra) + c.flush()
        else:
            payload = data
        crc = zlib.crc32(data) ^ crc_xor
        n = name.encode()
        local = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc,
                           len(payload), len(data) + lie, len(n), 0) + n + payload
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc,
                          len(payload), len(data) + lie, len(n), 0, 0, 0, 0, 0, local) + n
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cd),
                      len(out), 0)
    return out + cd + end


def idx(type_code, dims, data, gz=False):
    b = bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data
    return gzip.compress(b, mtime=0) if gz else b


def write(name, data):
    with open(D + name, "wb") as f:
        f.write(data)


x = npy(dict_of("<f4", "(3, 2)"), struct.pack("<6f", 1, 2, 3, 4, 5, 6))

write("npy_truncated_header.npy", x[:30])
write("npy_bad_magic.npy", b"\x93NUMPX" + x[6:])
write("npy_version.npy", x[:6] + b"\x07\x00" + x[8:])
write("npy_huge_header.npy", npy(dict_of("<f4", "(3, 2)"), major=2, raw_len=0x7FFFFFFF)[:80])
write("npy_short_data.npy", npy(dict_of("<f4", "(100, 2)"), b"\0" * 16))
write("npy_extra_data.npy", x + b"\0\0\0\0")
write("npy_claims_terabytes.npy", npy(dict_of("<f8", "(1000000000, 1000)"), b"\0" * 64))
write("npy_shape_overflow.npy", npy(dict_of("<f4", "(4294967296, 4294967296, 16)")))
write("npy_rank_33.npy", npy(dict_of("<f4", "(" + "1, " * 33 + ")"), b"\0" * 4))
write("npy_bad_dtype.npy", npy(dict_of("<c16", "(3, 2)"), b"\0" * 96))
write("npy_object_dtype.npy", npy(dict_of("|O", "(3,)"), b"\0" * 24))
write("npy_structured.npy", npy("{'descr': [('a', '<f4')], 'fortran_order': False, "
                                "'shape': (3,), }", b"\0" * 12))
write("npy_missing_key.npy", npy("{'descr': '<f4', 'shape': (3, 2), }", b"\0" * 24))
write("npy_bad_shape.npy", npy(dict_of("<f4", "(3, two)"), b"\0" * 24))

xy = [("x.npy", x, 8, b"", 0, 0), ("y.npy", npy(dict_of("|u1", "(3,)"), b"\0\1\0"), 0, b"", 0, 0)]
z = zip_of(xy)
write("npz_truncated.npz", z[: len(z) // 2])
write("npz_lying_size.npz", zip_of([("x.npy", x, 8, b"", 4096, 0)] + xy[1:]))
write("npz_deflate_bomb.npz", zip_of([("x.npy", x, 8, b"\0" * (16 << 20), 0, 0)] + xy[1:]))
write("npz_crc.npz", zip_of([("x.npy", x, 0, b"", 0, 1)] + xy[1:]))
liar = npy(dict_of("|u1", "(100000000,)"), b"abc")
write("npz_header_liar.npz", zip_of([("x.npy", liar, 8, b"", 100000000 - 3, 0)] + xy[1:]))
write("npz_bzip2.npz", zip_of([("x.npy", x, 12, b"", 0, 0)] + xy[1:]))

labels = bytes(range(10))
write("idx_bad_magic-idx1-ubyte", b"\x00\x01\x08\x01" + struct.pack(">I", 10) + labels)
write("idx_bad_type-idx1-ubyte", idx(0x0A, [10], labels))
write("idx_short-idx3-ubyte", idx(0x08, [10, 28, 28], b"\0" * 100))
write("idx_short-idx3-ubyte.gz", idx(0x08, [10, 28, 28], b"\0" * 100, gz=True))
write("idx_truncated-idx1-ubyte.gz", idx(0x08, [10], labels, gz=True)[:-12])
write("idx_claims_256mb-idx3-ubyte.gz", idx(0x08, [1000, 1000, 256], b"\0" * 16, gz=True))
write("idx_overflow-idx3-ubyte", idx(0x0E, [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], b""))
