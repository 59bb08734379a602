#!/usr/bin/env python3
"""Writes the v1 golden files of the write-ahead log, the manifest and the deletion bitmap.

An encoder written from docs/file-format.md alone, independent of the Rust code: the unit tests
(`golden_v1_file_*` in src/collection/) check that the Rust reader accepts these bytes and that the
Rust writer produces the same bytes. Never regenerate a file of a released version; a new format
version gets new files (wal-v2.bin, ...) and the old ones stay.
"""
import struct

T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def string(x):
    return struct.pack("<I", len(x)) + x.encode()


# Write-ahead log: dim 3, base lsn 1, the records of `five_records()` in wal.rs.
DIM = 3
wal = b"SVWAL\0\0\x01" + struct.pack("<IIQ", 1, DIM, 1)
wal += struct.pack("<I", crc32c(wal))
assert len(wal) == 28


def upsert(ids):
    return (1, ids, [i + j * 0.25 for i in ids for j in range(DIM)])


def delete(ids):
    return (2, ids, [])


records = [upsert([1, 2]), delete([2]), upsert([3]), upsert([]), delete([1, 3, 2**64 - 1])]
for lsn, (kind, ids, vectors) in enumerate(records, 1):
    payload = struct.pack("<BQI", kind, lsn, len(ids))
    payload += b"".join(struct.pack("<Q", i) for i in ids)
    payload += b"".join(struct.pack("<f", v) for v in vectors)
    wal += struct.pack("<II", len(payload), crc32c(payload)) + payload
open("wal-v1.bin", "wb").write(wal)

# Manifest: `sample()` in manifest.rs.
m = b"SVMAN\0\0\x01" + struct.pack("<I", 1) + struct.pack("<Q", 7)
# options: dim u32, metric u8 (cosine 2), m u32, ef_construction u32, seed u64,
# quantization u8 (sq4 2), scheme u8 (per-vector 1)
m += struct.pack("<IBIIQBB", 96, 2, 24, 300, 42, 2, 1)
m += struct.pack("<QQI", 1234, 44, 2)
m += struct.pack("<Q", 42) + string("seg-%016x.svs" % 42) + struct.pack("<QQ", 100000, 52428800)
m += b"\x01" + string("seg-%016x-%016x.del" % (42, 7)) + struct.pack("<Q", 17)
m += struct.pack("<Q", 43) + string("seg-%016x.svs" % 43) + struct.pack("<QQ", 5, 4096)
m += b"\x00" + struct.pack("<Q", 0)
m += struct.pack("<I", crc32c(m))
open("manifest-v1.bin", "wb").write(m)

# Deletion bitmap: `sample()` in tombstones.rs, 130 rows, rows 0, 63, 64 and 129 deleted.
t = b"SVDEL\0\0\x01" + struct.pack("<IIQ", 1, 0, 130)
t += struct.pack("<QQQ", 1 | 1 << 63, 1, 1 << 1)
t += struct.pack("<I", crc32c(t))
open("tombstones-v1.bin", "wb").write(t)
