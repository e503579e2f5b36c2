"""Every docstring example in the package runs and prints what it says (doctest).

Modules that need an optional extra which is not installed (e.g. vLLM) are skipped by name.
"""

import doctest
import importlib
import pkgutil

import pytest

import rlscaling


def _modules():
    for info in pkgutil.walk_packages(rlscaling.__path__, "rlscaling."):
        yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        pytest.skip(f"{name} needs an optional package: {exc}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
