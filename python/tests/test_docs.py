"""The examples in the package's docstrings run."""

from __future__ import annotations

import doctest

import stratavec
import stratavec.distributed
import stratavec.eval


def test_docstring_examples():
    # stratavec.distributed imports Ray only when used: its doctests run without it.
    for module in (stratavec, stratavec.eval, stratavec.distributed):
        result = doctest.testmod(module, verbose=False)
        assert result.attempted > 0, module.__name__
        assert result.failed == 0, module.__name__
