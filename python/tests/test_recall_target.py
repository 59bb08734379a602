"""Recall targets (search(..., target_recall=...)), the calibration behind them, and a
collection's live quality monitor (Collection.monitor / quality)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import stratavec


def recall_at_10(ids: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(t[:10])) / 10 for a, t in zip(ids, truth)]))


def test_a_target_on_real_data_gets_its_recall(wordllama, wordllama_index):
    _, queries, truth, _ = wordllama
    cal = wordllama_index.calibration
    assert cal is not None and cal["nodes"] == 100_000
    k10 = [c for c in cal["curves"] if c["k"] == 10 and c["selectivity"] == 1.0]
    assert k10 and k10[0]["samples"] == 1000
    assert k10[0]["recall"] == sorted(k10[0]["recall"])
    for target in (0.9, 0.95):
        ids, _ = wordllama_index.search(queries, k=10, target_recall=target)
        recall = recall_at_10(ids, truth)
        # The ±0.01 band is asserted in tests/recall_target_real.rs; here, that the binding
        # passes the target through.
        assert abs(recall - target) < 0.02, (target, recall)


def test_bad_targets_are_clear_errors(small_index, small):
    _, queries = small
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(stratavec.InvalidParameterError, match="target_recall"):
            small_index.search(queries, k=5, target_recall=bad)
    with pytest.raises(stratavec.InvalidParameterError, match="not both"):
        small_index.search(queries, k=5, ef=32, target_recall=0.9)
    assert issubclass(stratavec.UnreachableRecallError, stratavec.StratavecError)
    assert issubclass(stratavec.UnreachableRecallError, ValueError)


def test_an_unreachable_target_names_the_best_recall(rng):
    base = rng.standard_normal((3000, 32)).astype(np.float32)
    index = stratavec.Index(32, metric="l2", quantization="sq4")
    index.add(base)
    # Reranking k × 1 candidates keeps the codes' own top 10: some neighbours are missed at
    # every beam, so every neighbour is out of reach.
    with pytest.raises(stratavec.UnreachableRecallError, match="out of reach"):
        index.search(base[:5], k=10, oversample=1, target_recall=1.0)


def test_calibrate_and_the_stored_calibration(tmp_path, rng):
    base = rng.standard_normal((1500, 8)).astype(np.float32)
    index = stratavec.Index(8, metric="l2")
    index.add(base)
    assert index.calibrate() == index.calibration
    path = tmp_path / "cal.svs"
    index.save(str(path))
    opened = stratavec.Index.open(str(path))
    assert opened.calibration == index.calibration
    assert opened.info()["calibration"] == index.calibration
    assert opened.info()["format_version"] == 4


def test_the_monitor_reports_recall_latency_and_beams(tmp_path, rng):
    base = rng.standard_normal((3000, 16)).astype(np.float32)
    with stratavec.Collection(tmp_path / "c", dim=16, metric="l2") as col:
        col.upsert(np.arange(3000), base)
        assert col.quality() is None and col.stats()["quality"] is None
        with pytest.raises(stratavec.InvalidParameterError):
            col.monitor(sample_rate=0.0)
        col.monitor(sample_rate=1.0, max_cpu_share=1.0)
        queries = base[:200] + 0.01
        for q in queries:
            col.search(q, k=10, target_recall=0.9)
        deadline = time.monotonic() + 120
        while col.quality()["pending"] > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        q = col.quality()
        assert q["searches"] == 200
        assert q["measured"] + q["dropped"] == 200
        assert q["latency_us"]["p50"] > 0
        (t,) = [t for t in q["targets"] if t["target"] == 0.9]
        assert t["samples"] == q["measured"] > 0
        assert t["low"] <= t["recall"] <= t["high"]
        assert t["mean_beam"] >= 10
        assert col.stats()["quality"]["searches"] == 200
        col.stop_monitor()
        assert col.quality() is None


@pytest.mark.parametrize("quantization", ["rabitq", "rabitq4"])
def test_rabitq_targets_and_a_sealed_segment_keep_their_calibration(tmp_path, rng, quantization):
    centres = rng.standard_normal((20, 24)).astype(np.float32) * 4
    base = (centres[rng.integers(0, 20, 4000)] + rng.standard_normal((4000, 24))).astype(
        np.float32
    )
    queries = (centres[rng.integers(0, 20, 100)] + rng.standard_normal((100, 24))).astype(
        np.float32
    )
    d = ((queries[:, None, :] - base[None, :, :]) ** 2).sum(-1)
    truth = np.argsort(d, axis=1)[:, :10]
    path = tmp_path / "c"
    with stratavec.Collection(path, dim=24, metric="l2", quantization=quantization) as col:
        col.upsert(np.arange(4000), base)
        col.flush()  # sealed: a RaBitQ segment whose calibration was measured on its own codes
        assert col.stats()["segments"] == 1
        for target in (0.9, 0.95):
            ids, _ = col.search(queries, k=10, target_recall=target)
            recall = recall_at_10(ids, truth)
            # The ±0.01 band on real data is asserted in tests/recall_target_real.rs.
            assert recall >= target - 0.02, (quantization, target, recall)
