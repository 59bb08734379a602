"""Payloads in a Collection: upsert with payloads, payload()/get(with_payload=True), payload
filters as dicts and as text, with_payload search results, recall against the exact filtered
answer, errors that name the field, and payloads surviving flush, compaction and a reopen."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

import stratavec
from stratavec import MISSING_ID

UTC = datetime.timezone.utc


def rows(n, dim=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def payload(i):
    return {
        "tenant": i % 10,
        "lang": ["en", "de", "fr"][i % 3],
        "price": float(i % 100) / 4,
        "date": datetime.datetime(2026, 1, 1, tzinfo=UTC) + datetime.timedelta(days=i % 365),
        "tags": ["a", "b"] if i % 2 else ["c"],
    }


def exact(data, q, keep, k):
    d = ((data - q) ** 2).sum(axis=1)
    d[~keep] = np.inf
    order = np.argsort(d, kind="stable")[:k]
    return [int(i) for i in order if np.isfinite(d[i])]


@pytest.fixture
def col(tmp_path):
    n = 2000
    data = rows(n)
    c = stratavec.Collection(tmp_path / "c", dim=8, metric="l2")
    c.upsert(np.arange(n), data, payloads=[payload(i) for i in range(n)])
    yield c, data
    c.close()


def test_payloads_come_back_from_payload_get_and_search(col):
    c, data = col
    assert c.payload(5) == payload(5)
    v, p = c.get(5, with_payload=True)
    assert p == payload(5) and np.allclose(v, data[5])
    assert c.schema() == {
        "date": "timestamp",
        "lang": "keyword",
        "price": "float",
        "tags": "keywords",
        "tenant": "int",
    }
    ids, dists, payloads = c.search(data[:3], k=4, with_payload=True)
    assert ids.shape == (3, 4) and len(payloads) == 3
    for row_ids, row_payloads in zip(ids, payloads):
        assert [payload(int(i)) for i in row_ids] == row_payloads
    ids, dists, payloads = c.search(data[0], k=2, with_payload=True)
    assert payloads == [payload(int(i)) for i in ids]


@pytest.mark.parametrize(
    "flt, keep",
    [
        ({"tenant": 3}, lambda i: i % 10 == 3),
        ({"lang": {"in": ["de", "fr"]}}, lambda i: i % 3 != 0),
        ({"price": {"gte": 5.0, "lt": 10}}, lambda i: 5.0 <= (i % 100) / 4 < 10),
        ({"tags": "a", "tenant": {"ne": 1}}, lambda i: i % 2 == 1 and i % 10 != 1),
        (
            {"date": {"lt": datetime.datetime(2026, 1, 11)}},
            lambda i: i % 365 < 10,
        ),
        ({"$or": [{"tenant": 0}, {"$not": {"lang": "en"}}]}, lambda i: i % 10 == 0 or i % 3 != 0),
        ("tenant = 3 or price < 1.0", lambda i: i % 10 == 3 or (i % 100) / 4 < 1.0),
        ({"missing_ok": {"exists": False}} if False else {"tags": {"exists": True}}, lambda i: True),
    ],
)
def test_filters_match_the_exact_filtered_answer(col, flt, keep):
    c, data = col
    mask = np.array([keep(i) for i in range(len(data))])
    queries = rows(20, seed=3)
    ids, dists = c.search(queries, k=10, ef=64, filter=flt)
    hits = 0
    for q, got in zip(queries, ids):
        want = exact(data, q, mask, 10)
        got = [int(i) for i in got if i != MISSING_ID]
        assert len(got) == min(10, int(mask.sum()))
        assert all(mask[i] for i in got)
        hits += len(set(got) & set(want))
    assert hits / (20 * min(10, int(mask.sum()))) >= 0.95


def test_bad_payloads_and_filters_name_the_field(col):
    c, data = col
    before = len(c)
    with pytest.raises(stratavec.FieldTypeMismatchError, match="tenant"):
        c.upsert([5000, 5001], rows(2), payloads=[{"tenant": 1}, {"tenant": "x"}])
    with pytest.raises(stratavec.InvalidPayloadError, match="bad name"):
        c.upsert([5000], rows(1), payloads=[{"bad name": 1}])
    with pytest.raises(stratavec.InvalidPayloadError, match="obj"):
        c.upsert([5000], rows(1), payloads=[{"obj": object()}])
    with pytest.raises(stratavec.InvalidPayloadError, match="x"):
        c.upsert([5000], rows(1), payloads=[{"x": float("nan")}])
    with pytest.raises(stratavec.InvalidParameterError, match="payloads"):
        c.upsert([5000, 5001], rows(2), payloads=[{}])
    assert len(c) == before
    with pytest.raises(stratavec.InvalidFilterError, match="nope"):
        c.search(data[0], filter={"nope": 1})
    with pytest.raises(stratavec.InvalidFilterError, match="lang"):
        c.search(data[0], filter={"lang": 3})
    with pytest.raises(stratavec.InvalidFilterError, match="price"):
        c.search(data[0], filter={"price": {"between": 3}})
    with pytest.raises(stratavec.InvalidFilterError, match="byte"):
        c.search(data[0], filter="tenant = ")
    deep = {"tenant": 1}
    for _ in range(50):
        deep = {"$not": deep}
    with pytest.raises(stratavec.InvalidFilterError, match="deeper"):
        c.search(data[0], filter=deep)


def test_payloads_survive_flush_compaction_and_reopen(tmp_path):
    path = tmp_path / "c"
    data = rows(300)
    with stratavec.Collection(path, dim=8, seal_rows=100) as c:
        c.upsert(np.arange(300), data, payloads=[payload(i) for i in range(300)])
        c.upsert([7], data[7], payloads=[{"tenant": 99}])
        c.upsert([8], data[8])  # replaces id 8 without a payload
        c.delete([9])
        c.flush()
        c.compact()
    with stratavec.Collection(path) as c:
        assert c.payload(7) == {"tenant": 99}
        assert c.payload(8) == {}
        assert c.payload(10) == payload(10)
        with pytest.raises(KeyError):
            c.payload(9)
        ids, _ = c.search(data[7], k=1, filter={"tenant": 99})
        assert ids.tolist() == [7]
        c.verify()
