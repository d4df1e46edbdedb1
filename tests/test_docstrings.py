"""Every example in the package's docstrings runs and gives what it shows: an example a reader
copies is a claim about the code, checked like any other."""
import doctest
import importlib
import pkgutil

import pytest

import cxanalysis

MODULES = sorted(m.name for m in pkgutil.walk_packages(cxanalysis.__path__, "cxanalysis."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    try:
        module = importlib.import_module(name)
    except ImportError as err:  # an optional extra (pyspark) absent here
        pytest.skip(f"{name} needs an optional dependency: {err}")
    failed, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert failed == 0, f"{failed} docstring example(s) of {name} do not hold (run pytest --doctest-modules {name})"


def test_the_examples_are_found():
    """The check above is not empty: the modules whose sentences and numbers readers copy carry
    examples, and doctest finds them."""
    for name in ("cxanalysis.summary", "cxanalysis.metrics", "cxanalysis.narrative"):
        assert doctest.testmod(importlib.import_module(name), verbose=False).attempted >= 2, name
