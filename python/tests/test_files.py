"""Index files: save, open (mapped), load, verify, info, delete, read-only; merge_top_k."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

import stratavec
from stratavec import MISSING_ID


def section(info, name):
    return next(s for s in info["sections"] if s["name"] == name)


@pytest.mark.parametrize("quantization", ["none", "sq8", "sq4", "rabitq", "rabitq8"])
def test_save_open_load_round_trip_gives_identical_results(tmp_path, small, quantization):
    base, queries = small
    index = stratavec.Index(16, metric="l2", quantization=quantization, m=8, ef_construction=64)
    index.add(base, ids=np.arange(1000, 2000))
    want_ids, want_dist = index.search(queries, k=10, ef=64)
    path = tmp_path / "small.svs"
    written = index.save(path)  # a pathlib.Path works, and so does a str
    assert written == os.path.getsize(path) > 0
    assert index.info() is None and not index.read_only
    for mmap in (True, False):
        opened = stratavec.Index.open(str(path), mmap=mmap)
        assert opened.read_only
        assert (opened.dim, opened.metric, opened.quantization, opened.m) == (16, "l2", quantization, 8)
        assert len(opened) == 1000 and 1500 in opened and 999 not in opened
        ids, dist = opened.search(queries, k=10, ef=64)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(dist, want_dist)
        np.testing.assert_array_equal(opened.get(1234), index.get(1234))
        # Filters and one-query searches work on an opened index as on a built one.
        f_ids, _ = opened.search(queries[0], k=5, filter=np.arange(1000, 2000, 2))
        assert np.all(f_ids % 2 == 0)
        opened.verify()
        assert f"path='{path}'" in repr(opened)


def test_info_describes_the_file(tmp_path, small):
    base, _ = small
    index = stratavec.Index(16, quantization="sq4", m=8, ef_construction=32)
    index.add(base)
    path = tmp_path / "i.svs"
    size = index.save(path)
    info = stratavec.Index.open(path).info()
    assert info["path"] == str(path)
    assert info["file_bytes"] == size
    assert info["format_version"] == 1
    assert (info["nodes"], info["live"], info["deleted"]) == (1000, 1000, 0)
    assert info["max_level"] >= 1
    names = [s["name"] for s in info["sections"]]
    for name in ("meta", "vectors", "codes", "level0", "labels", "id_keys", "id_slots"):
        assert name in names
    # The sections are the layout: f32 originals padded to 16 floats, 4-bit codes plus their
    # 12-byte parameters rounded to 16 bytes, level-0 rows of 1 + 2·m u32, 8-byte labels.
    assert section(info, "vectors")["len"] == 1000 * 16 * 4
    assert section(info, "codes")["len"] == 1000 * 32
    assert section(info, "level0")["len"] == 1000 * (1 + 16) * 4
    assert section(info, "labels")["len"] == 1000 * 8
    assert all(s["offset"] % 64 == 0 for s in info["sections"])
    assert sum(s["len"] for s in info["sections"]) <= size


def test_an_opened_index_is_read_only(tmp_path, small_index):
    path = tmp_path / "ro.svs"
    small_index.save(path)
    opened = stratavec.Index.open(path)
    with pytest.raises(stratavec.ReadOnlyError, match="opened from segment"):
        opened.add(np.zeros(16, np.float32), ids=5000)
    with pytest.raises(stratavec.ReadOnlyError):
        opened.delete(3)
    assert len(opened) == len(small_index)
    # Saving an opened index copies its file.
    copy = tmp_path / "copy.svs"
    assert opened.save(copy) == os.path.getsize(path)
    assert copy.read_bytes() == path.read_bytes()


def test_delete(tmp_path, small):
    base, queries = small
    index = stratavec.Index(16, m=8, ef_construction=64)
    index.add(base)
    nearest, _ = index.search(queries[0], k=1)
    gone = int(nearest[0])
    index.delete(gone)
    assert gone not in index and len(index) == 999
    ids, _ = index.search(queries[0], k=10)
    assert gone not in ids
    with pytest.raises(stratavec.UnknownIdError):
        index.delete(gone)
    with pytest.raises(KeyError):
        index.delete(123456)
    with pytest.raises(TypeError):
        index.delete("7")
    # The id can come back with a new vector; a saved index keeps the deletion.
    index.add(queries[0], ids=gone)
    ids, dist = index.search(queries[0], k=1)
    assert ids[0] == gone and dist[0] == pytest.approx(0.0, abs=1e-5)
    index.delete(gone)
    path = tmp_path / "deleted.svs"
    index.save(path)
    opened = stratavec.Index.open(path)
    assert gone not in opened and len(opened) == 999
    assert opened.info()["deleted"] >= 1
    ids, _ = opened.search(queries, k=10)
    assert not np.any(ids == gone)


def test_opening_a_missing_file_is_file_not_found(tmp_path):
    missing = tmp_path / "nope.svs"
    for mmap in (True, False):
        with pytest.raises(FileNotFoundError) as e:
            stratavec.Index.open(missing, mmap=mmap)
        assert e.value.errno == errno.ENOENT
        assert e.value.filename == str(missing)
    with pytest.raises(FileNotFoundError):
        stratavec.Index(4).save(tmp_path / "no-such-dir" / "x.svs")


def test_verify_finds_a_flipped_byte(tmp_path, small_index):
    path = tmp_path / "c.svs"
    small_index.save(path)
    vectors = section(stratavec.Index.open(path).info(), "vectors")
    data = bytearray(path.read_bytes())
    data[vectors["offset"] + vectors["len"] // 2] ^= 0x40
    bad = tmp_path / "bad.svs"
    bad.write_bytes(bytes(data))
    # Opening checks what costs nothing per row (header, table, sizes); verify reads the rest.
    opened = stratavec.Index.open(bad)
    with pytest.raises(stratavec.CorruptFileError, match="(?i)vectors") as e:
        opened.verify()
    assert str(bad) in str(e.value)
    with pytest.raises(stratavec.CorruptFileError):
        stratavec.Index.open(bad, mmap=False).verify()


def test_damaged_headers_are_refused_on_open(tmp_path, small_index):
    path = tmp_path / "h.svs"
    small_index.save(path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.svs"
    truncated.write_bytes(data[: len(data) - 100])
    garbage = tmp_path / "garbage.svs"
    garbage.write_bytes(b"not a segment file at all" * 10)
    empty = tmp_path / "empty.svs"
    empty.write_bytes(b"")
    for p in (truncated, garbage, empty):
        for mmap in (True, False):
            with pytest.raises(stratavec.CorruptFileError):
                stratavec.Index.open(p, mmap=mmap)
    newer = tmp_path / "newer.svs"
    newer.write_bytes(data[:8] + (9).to_bytes(4, "little") + data[12:])  # format version 9
    with pytest.raises(stratavec.UnsupportedVersionError, match="9"):
        stratavec.Index.open(newer)


def test_merge_top_k_calls_the_crate(small):
    base, queries = small
    whole = stratavec.Index(16, m=8, ef_construction=64)
    whole.add(base)
    shards = []
    for s in range(4):
        shard = stratavec.Index(16, m=8, ef_construction=64)
        shard.add(base[s::4], ids=np.arange(s, 1000, 4))
        shards.append(shard)
    parts = [shard.search(queries, k=10, ef=200) for shard in shards]
    ids, dist = stratavec.merge_top_k([p[0] for p in parts], [p[1] for p in parts], k=10)
    assert ids.shape == dist.shape == (20, 10)
    assert ids.dtype == np.uint64 and dist.dtype == np.float32
    assert np.all(np.diff(dist, axis=1) >= 0)
    exact = stratavec.eval.ground_truth(base, queries, k=10)
    assert stratavec.eval.recall_at_k(ids, exact) >= 0.95
    # One query (1-d arrays), duplicates kept once with the smaller distance, filler ignored,
    # ties to the smaller id.
    a_ids = np.array([5, 7, MISSING_ID], np.uint64)
    a_d = np.array([0.5, 0.7, np.inf], np.float32)
    b_ids = np.array([7, 3, 9], np.uint64)
    b_d = np.array([0.1, 0.5, 0.9], np.float32)
    ids, dist = stratavec.merge_top_k([a_ids, b_ids], [a_d, b_d], k=5)
    assert ids.shape == (5,)
    assert ids.tolist() == [7, 3, 5, 9, MISSING_ID]
    np.testing.assert_array_equal(dist, np.array([0.1, 0.5, 0.5, 0.9, np.inf], np.float32))
    # A k beyond what the lists hold: as wide as their columns added up.
    ids, dist = stratavec.merge_top_k([a_ids, b_ids], [a_d, b_d], k=10**9)
    assert ids.tolist() == [7, 3, 5, 9, MISSING_ID, MISSING_ID]
    ids, _ = stratavec.merge_top_k([], [], k=10**9)
    assert ids.shape == (0, 0)
    with pytest.raises(stratavec.InvalidParameterError):
        stratavec.merge_top_k([a_ids], [a_d, b_d], k=3)
    with pytest.raises(stratavec.InvalidParameterError):
        stratavec.merge_top_k([a_ids], [b_d[:2]], k=3)
    with pytest.raises(stratavec.InvalidParameterError):
        stratavec.merge_top_k([a_ids], [a_d], k=0)
    with pytest.raises(stratavec.InvalidParameterError):
        stratavec.merge_top_k([np.array([-1])], [np.array([0.0])], k=1)
    with pytest.raises(stratavec.InvalidParameterError, match="rows"):
        stratavec.merge_top_k(
            [np.zeros((2, 3), np.uint64), np.zeros((3, 3), np.uint64)],
            [np.zeros((2, 3), np.float32), np.zeros((3, 3), np.float32)],
            k=3,
        )


def test_paths_may_be_str_or_pathlike(tmp_path, small_index):
    p = Path(tmp_path) / "p.svs"
    small_index.save(str(p))
    assert len(stratavec.Index.open(p)) == len(small_index)
