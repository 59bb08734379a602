"""Error mapping: each stratavec error arrives as its Python exception class."""

from __future__ import annotations

import errno

import numpy as np
import pytest

import stratavec

from conftest import with_version
from stratavec import _stratavec

VALUE_ERRORS = [
    stratavec.DimensionMismatchError,
    stratavec.InvalidVectorError,
    stratavec.InvalidParameterError,
    stratavec.DuplicateIdError,
    stratavec.MalformedFileError,
]
VALUE_ERRORS.append(stratavec.ClosedError)
OTHER_ERRORS = [
    stratavec.CapacityExceededError,
    stratavec.RerankError,
    stratavec.CorruptFileError,
    stratavec.UnsupportedVersionError,
    stratavec.LockedError,
    stratavec.ReadOnlyError,
]


def test_hierarchy():
    assert issubclass(stratavec.StratavecError, Exception)
    for cls in VALUE_ERRORS:
        assert issubclass(cls, stratavec.StratavecError) and issubclass(cls, ValueError)
    assert issubclass(stratavec.UnknownIdError, stratavec.StratavecError)
    assert issubclass(stratavec.UnknownIdError, KeyError)
    for cls in OTHER_ERRORS:
        assert issubclass(cls, stratavec.StratavecError)
        assert not issubclass(cls, (ValueError, KeyError, OSError))
    for cls in VALUE_ERRORS + OTHER_ERRORS + [stratavec.UnknownIdError, stratavec.StratavecError]:
        assert cls.__module__ == "stratavec"
        assert cls.__doc__


@pytest.fixture
def index():
    index = stratavec.Index(4)
    index.add(np.eye(4, dtype=np.float32))
    return index


def test_dimension_mismatch_names_the_expected_shape(index):
    with pytest.raises(stratavec.DimensionMismatchError, match=r"expected shape \(n, 4\) or \(4,\), got \(2, 3\)"):
        index.search(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"got \(3,\)"):
        index.add(np.ones(3, np.float32))
    with pytest.raises(stratavec.InvalidParameterError, match="1-d or 2-d"):
        index.search(np.ones((2, 2, 4), np.float32))
    with pytest.raises(stratavec.InvalidParameterError, match="1-d or 2-d"):
        index.add(np.float32(1.0))


def test_invalid_vectors(index):
    for bad in (np.nan, np.inf, -np.inf):
        v = np.ones(4, np.float32)
        v[2] = bad
        with pytest.raises(stratavec.InvalidVectorError, match="component 2"):
            index.add(v, ids=100)
        with pytest.raises(stratavec.InvalidVectorError):
            index.search(v)
    cos = stratavec.Index(4, metric="cosine")
    with pytest.raises(stratavec.InvalidVectorError, match="zero norm"):
        cos.add(np.zeros(4, np.float32))
    assert len(index) == 4 and len(cos) == 0


def test_invalid_parameters(index):
    q = np.ones(4, np.float32)
    for kwargs in ({"k": 0}, {"k": -1}, {"ef": 0}, {"oversample": 0}, {"threads": 0}, {"threads": -2}):
        with pytest.raises(stratavec.InvalidParameterError):
            index.search(q, **kwargs)
    with pytest.raises(ValueError, match="`dim`"):
        stratavec.Index(0)
    with pytest.raises(ValueError, match="`dim`"):
        stratavec.Index(-3)
    with pytest.raises(ValueError, match="`m`"):
        stratavec.Index(4, m=1)
    with pytest.raises(ValueError, match="metric"):
        stratavec.Index(4, metric="hamming")
    with pytest.raises(ValueError, match="quantization"):
        stratavec.Index(4, quantization="pq")
    with pytest.raises(stratavec.InvalidParameterError, match="expected 2 ids"):
        index.add(np.ones((2, 4), np.float32), ids=[10])
    with pytest.raises(stratavec.InvalidParameterError, match="non-negative"):
        index.add(q, ids=-5)
    with pytest.raises(stratavec.InvalidParameterError, match="integers"):
        index.add(q, ids=[1.5])
    with pytest.raises(stratavec.InvalidParameterError, match="reserved"):
        index.add(q, ids=2**64 - 1)
    with pytest.raises(stratavec.InvalidParameterError):
        index.add(q, threads=0)
    assert len(index) == 4


def test_duplicate_ids_add_nothing(index):
    with pytest.raises(stratavec.DuplicateIdError, match="id 2 is already"):
        index.add(np.ones((2, 4), np.float32), ids=[9, 2])
    with pytest.raises(stratavec.DuplicateIdError):
        index.add(np.ones((2, 4), np.float32), ids=[9, 9])
    assert len(index) == 4 and 9 not in index


def test_unknown_ids_are_key_errors(index):
    with pytest.raises(stratavec.UnknownIdError):
        index.get(99)
    with pytest.raises(KeyError):
        index.get(-1)
    with pytest.raises(KeyError):
        index.get(2**64)
    with pytest.raises(TypeError):
        index.get("3")


def test_io_errors_are_os_errors_with_errno_and_filename(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        stratavec.eval.bench(tmp_path / "missing")
    assert e.value.errno == errno.ENOENT
    assert e.value.filename == str(tmp_path / "missing" / "base.fvecs")
    with pytest.raises(PermissionError) as e:
        _stratavec._raise_error("io_permission")
    assert e.value.errno == errno.EACCES and e.value.filename
    with pytest.raises(FileNotFoundError):  # no errno: mapped from the io kind
        _stratavec._raise_error("io_kind_only")
    with pytest.raises(FileNotFoundError) as e:
        stratavec.Index.open(tmp_path / "nope.svs")
    assert e.value.filename == str(tmp_path / "nope.svs")


def test_opening_a_directory_says_it_is_one(tmp_path):
    """Index.open(<a directory>) used to raise OSError [Errno 19] No such device (from mmap)."""
    for opener in (stratavec.Index.open, lambda p: stratavec.Index.open(p, mmap=False)):
        with pytest.raises(IsADirectoryError) as e:
            opener(tmp_path)
        assert "is a directory" in str(e.value), str(e.value)
        assert str(tmp_path) in str(e.value)


def test_a_manifest_with_flipped_version_bytes_is_corrupt_and_named(tmp_path):
    """Two flipped bytes in the MANIFEST's version field used to be reported as
    UnsupportedVersionError: unsupported format version 4294901761."""
    with stratavec.Collection(tmp_path / "c", dim=4) as col:
        col.upsert([1], np.ones((1, 4), np.float32))
        col.flush()
    manifest = tmp_path / "c" / "MANIFEST"
    data = bytearray(manifest.read_bytes())
    data[10] ^= 0xFF
    data[11] ^= 0xFF
    manifest.write_bytes(bytes(data))
    for opener in (
        lambda: stratavec.Collection(tmp_path / "c"),
        lambda: stratavec.Collection.open_read_only(tmp_path / "c"),
    ):
        with pytest.raises(stratavec.CorruptFileError) as e:
            opener()
        message = str(e.value)
        assert "MANIFEST" in message and "checksum" in message, message


def test_malformed_file(tmp_path):
    (tmp_path / "base.fvecs").write_bytes(b"\x04\x00\x00\x00\x00\x00")
    (tmp_path / "query.fvecs").write_bytes(b"")
    with pytest.raises(stratavec.MalformedFileError, match="base.fvecs"):
        stratavec.eval.bench(tmp_path)


def test_storage_errors_come_from_real_calls(tmp_path):
    """Every variant a call can provoke is provoked for real; see test_files.py and
    test_collection.py for more of each."""
    index = stratavec.Index(4)
    index.add(np.eye(4, dtype=np.float32))
    path = tmp_path / "i.svs"
    index.save(path)
    data = path.read_bytes()
    (tmp_path / "corrupt.svs").write_bytes(b"garbage" + data[7:])
    with pytest.raises(stratavec.CorruptFileError) as e:
        stratavec.Index.open(tmp_path / "corrupt.svs")
    assert type(e.value) is stratavec.CorruptFileError and "corrupt.svs" in str(e.value)
    (tmp_path / "v9.svs").write_bytes(with_version(data, 9))
    with pytest.raises(stratavec.UnsupportedVersionError) as e:
        stratavec.Index.open(tmp_path / "v9.svs")
    assert type(e.value) is stratavec.UnsupportedVersionError
    with pytest.raises(stratavec.ReadOnlyError) as e:
        stratavec.Index.open(path).add(np.ones(4, np.float32), ids=9)
    assert type(e.value) is stratavec.ReadOnlyError
    with stratavec.Collection(tmp_path / "c", dim=4):
        with pytest.raises(stratavec.LockedError) as e:
            stratavec.Collection(tmp_path / "c")
        assert type(e.value) is stratavec.LockedError and "locked" in str(e.value)
    with pytest.raises(FileNotFoundError) as e:
        stratavec.Index.open(tmp_path / "missing.svs")
    assert e.value.errno == errno.ENOENT


@pytest.mark.parametrize(
    "kind, cls",
    [
        ("capacity_exceeded", stratavec.CapacityExceededError),
        ("rerank", stratavec.RerankError),
        ("io_permission", PermissionError),
        ("io_kind_only", FileNotFoundError),
    ],
)
def test_variants_no_call_can_provoke_map_to_their_class(kind, cls):
    """An index past 2**32 - 1 vectors, a Rust reranker's own error, a permission error (the
    tests may run as root), an I/O error without an errno: through a private test hook."""
    with pytest.raises(cls) as e:
        _stratavec._raise_error(kind)
    assert type(e.value) is cls
    assert str(e.value)
