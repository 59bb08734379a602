"""Shared fixtures: small random data, and the real `wordllama-sent-256-ip` dataset.

The datasets folder is `$STRATAVEC_DATASETS`, by default `../shared/datasets` relative to the
repository root. A test that needs a dataset that is absent is skipped with the reason, unless
`STRATAVEC_REQUIRE_DATASETS=1` (as in CI), which makes it fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import stratavec

REPO_ROOT = Path(__file__).resolve().parents[2]


def datasets_dir() -> Path:
    env = os.environ.get("STRATAVEC_DATASETS")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "datasets"


def read_vecs(path: Path, dtype: str) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    assert np.all(rows[:, 0] == dim), f"{path}: inconsistent row dimensions"
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def dataset_or_skip(name: str) -> Path:
    folder = datasets_dir() / name
    if not (folder / "base.fvecs").is_file():
        reason = f"dataset {folder} not found (set STRATAVEC_DATASETS)"
        if os.environ.get("STRATAVEC_REQUIRE_DATASETS") == "1":
            pytest.fail(f"{reason}; STRATAVEC_REQUIRE_DATASETS=1 requires it")
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="session")
def wordllama():
    """(base, queries, groundtruth, metric) of wordllama-sent-256-ip."""
    folder = dataset_or_skip("wordllama-sent-256-ip")
    base = read_vecs(folder / "base.fvecs", "float32")
    queries = read_vecs(folder / "query.fvecs", "float32")
    truth = read_vecs(folder / "groundtruth.ivecs", "int32")
    metric = (folder / "METRIC").read_text().strip()
    return base, queries, truth, metric


@pytest.fixture(scope="session")
def wordllama_index(wordllama):
    """An f32 index (m 16, ef_construction 200) over all 100,000 rows of wordllama, built once per
    session (about 20 s on 2 idle cores)."""
    base, _, _, metric = wordllama
    index = stratavec.Index(base.shape[1], metric=metric, m=16, ef_construction=200)
    index.add(base)
    return index


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def small(rng):
    """1,000 random 16-d vectors and 20 queries."""
    return (
        rng.standard_normal((1000, 16)).astype(np.float32),
        rng.standard_normal((20, 16)).astype(np.float32),
    )


@pytest.fixture
def small_index(small):
    base, _ = small
    index = stratavec.Index(16, metric="l2", seed=7)
    index.add(base)
    return index


def _crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli), bit by bit: the checksum of segment headers."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def with_version(segment: bytes, version: int) -> bytes:
    """A segment file's bytes with another format version and a header checksum that matches it
    (files of version 2 on checksum their header and section table, version field included)."""
    head = bytearray(segment[:64])
    head[8:12] = version.to_bytes(4, "little")
    count = int.from_bytes(head[12:16], "little")
    if int.from_bytes(segment[24:28], "little") != 0:
        head[24:28] = bytes(4)
        crc = _crc32c(bytes(head) + segment[64 : 64 + 32 * count])
        head[24:28] = crc.to_bytes(4, "little")
    return bytes(head) + segment[64:]
