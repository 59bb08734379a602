"""The ann-benchmarks wrapper."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import stratavec
from stratavec.ann_benchmarks import Stratavec


@pytest.mark.parametrize("metric, ours", [("euclidean", "l2"), ("angular", "cosine"), ("ip", "ip")])
def test_interface(small, metric, ours):
    base, queries = small
    algo = Stratavec(metric, {"M": 12, "efConstruction": 100})
    assert algo.get_memory_usage() == 0
    algo.fit(base.astype(np.float64))
    assert algo.index.metric == ours and algo.index.m == 12
    assert algo.get_memory_usage() > base.nbytes / 1024
    algo.set_query_arguments(128)
    assert "ef=128" in str(algo) and "M=12" in str(algo) and algo.name == str(algo)
    truth = stratavec.eval.ground_truth(base, queries, k=10, metric=ours)
    found = np.array([algo.query(q, 10) for q in queries])
    assert found.shape == (20, 10)
    assert stratavec.eval.recall_at_k(found, truth) >= 0.95
    algo.batch_query(queries, 10)
    np.testing.assert_array_equal(algo.get_batch_results(), found)
    algo.done()


def test_quantized_and_oversample(small):
    base, queries = small
    algo = Stratavec("euclidean", {"M": 16, "efConstruction": 100, "quantization": "sq4"})
    algo.fit(base)
    algo.set_query_arguments(64, 4)
    assert "oversample=4" in str(algo)
    assert algo.get_additional() == {"quantization": "sq4"}
    assert len(algo.query(queries[0], 10)) == 10


def test_query_drops_filler_and_errors():
    algo = Stratavec("euclidean", {"M": 4, "efConstruction": 10})
    with pytest.raises(RuntimeError):
        algo.query(np.zeros(2, np.float32), 1)
    algo.fit(np.eye(2, dtype=np.float32))
    algo.set_query_arguments(10)
    assert sorted(algo.query(np.zeros(2, np.float32), 5).tolist()) == [0, 1]
    with pytest.raises(ValueError):
        Stratavec("hamming", {})


def _config_snippet() -> str:
    """The config.yml block of docs/python.md's ann-benchmarks section."""
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "docs" / "python.md").read_text()
    section = text[text.index("## ann-benchmarks") :]
    start = section.index("```yaml\n") + len("```yaml\n")
    return section[start : section.index("```", start)]


def _combinations(args):
    """What ann-benchmarks' definitions do to `args`, `arg_groups` and `query_args`: a list is
    the Cartesian product of its elements (a scalar element counts as a one-element list); a
    dict is the product of its values, as dicts."""
    if isinstance(args, list):
        lists = [a if isinstance(a, list) else [a] for a in args]
        return [list(c) for c in itertools.product(*lists)]
    if isinstance(args, dict):
        keys = list(args)
        values = [v if isinstance(v, list) else [v] for v in args.values()]
        return [dict(zip(keys, c)) for c in itertools.product(*values)]
    raise TypeError(f"no args handling for {type(args).__name__}")


def _definitions(config, metric):
    """(constructor arguments, query argument combinations) of every run group, as the
    runner builds them for a float dataset of `metric` (`@metric` substituted)."""
    out = []
    for algo in config["float"].get("any", config["float"].get(metric, [])):
        assert algo["constructor"] == "Stratavec"
        assert algo["module"] == "ann_benchmarks.algorithms.stratavec"
        for group in algo["run_groups"].values():
            if "arg_groups" in group:
                groups = [
                    _combinations(g) if isinstance(g, dict) else g for g in group["arg_groups"]
                ]
                args = _combinations(groups)
            else:
                args = _combinations(group["args"])
            query_args = _combinations(group["query_args"]) if "query_args" in group else []
            for arg_group in args:
                aargs = list(algo.get("base_args", []))
                aargs.extend(arg_group if isinstance(arg_group, list) else [arg_group])
                aargs = [metric if a == "@metric" else a for a in aargs]
                out.append((algo["name"], aargs, query_args))
    return out


def test_the_config_snippet_of_the_docs_runs_as_the_harness_runs_it(small):
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load(_config_snippet())
    base, queries = small
    truth = stratavec.eval.ground_truth(base, queries, k=10, metric="cosine")
    definitions = _definitions(config, "angular")
    assert {name for name, _, _ in definitions} == {
        "stratavec", "stratavec-sq4", "stratavec-rabitq"}
    for name, aargs, query_args in definitions:
        algo = Stratavec(*aargs)
        algo.fit(base)
        assert query_args, name
        for qa in query_args:
            algo.set_query_arguments(*qa)  # what the runner does
            found = np.array([algo.query(q, 10) for q in queries])
            assert found.shape == (len(queries), 10)
        if name == "stratavec":
            # The widest beam finds the neighbours (the recall of sq4 codes on a dataset is
            # measured elsewhere, not here).
            assert stratavec.eval.recall_at_k(found, truth) >= 0.9, (name, qa)
        if name == "stratavec-sq4":
            assert algo.quantization == "sq4" and algo.oversample == 3
            assert all(len(qa) == 2 for qa in query_args)
        elif name == "stratavec-rabitq":
            assert algo.quantization == "rabitq4" and algo.oversample == 2
            assert all(len(qa) == 2 for qa in query_args)
        else:
            assert all(len(qa) == 1 for qa in query_args)


def test_malformed_arguments_are_refused_with_the_expected_form(small):
    base, _ = small
    algo = Stratavec("euclidean", {"M": 8, "efConstruction": 50})
    algo.fit(base)
    # What `query_args: [[[10, 3], [20, 3]]]` (pairs) makes the runner pass.
    with pytest.raises(TypeError, match=r"query_args: \[\[10, 20, 40, 80\], \[3\]\]"):
        algo.set_query_arguments([10, 3])
    for bad in ("64", 64.5, None, True):
        with pytest.raises(TypeError, match="set_query_arguments takes integers"):
            algo.set_query_arguments(bad)
    with pytest.raises(ValueError, match="at least 1"):
        algo.set_query_arguments(0)
    with pytest.raises(TypeError, match="oversample"):
        algo.set_query_arguments(10, [3])
    algo.set_query_arguments(np.int64(40), np.int32(2))
    assert (algo.ef, algo.oversample) == (40, 2)
    with pytest.raises(TypeError, match="arg_groups"):
        Stratavec("euclidean", [{"M": 16}])
    with pytest.raises(ValueError, match="unknown build parameters"):
        Stratavec("euclidean", {"m": 16})
    with pytest.raises(ValueError, match="quantization"):
        Stratavec("euclidean", {"quantization": "pq"})
    with pytest.raises(TypeError, match="M must be an integer"):
        Stratavec("euclidean", {"M": "16"})
