"""The test run's own layout: with xdist's ``--dist loadgroup`` (pyproject's addopts) every
test of a module runs on one worker, so a module-scoped server starts once per run."""

from __future__ import annotations

import pytest


def test_a_module_runs_on_one_worker(request):
    """xdist sends tests by node id; a module's group must be in it (tests/conftest.py)."""
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is None or not request.config.getoption("loadgroup", False):
        pytest.skip("not run by xdist's loadgroup (e.g. -n 0)")
    assert request.node.nodeid.endswith(f"@{__name__}"), request.node.nodeid
