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


def test_the_quick_loop_leaves_out_full_size_models_servers_and_the_browser():
    """``pytest --quick`` collects the tests that build no full-size model and start no
    server or browser, and only those (markers given or found from the fixtures used)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = ["tests/test_registry.py", "tests/test_hostile.py", "tests/test_real_weights.py"]
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--quick", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
        cwd=root, capture_output=True, text=True, timeout=600,
    ).stdout.splitlines()
    tests = [line for line in listed if "::" in line]
    assert any("test_registry_is_exactly_what_keras_offers" in t for t in tests)
    assert not any("test_every_family_builds_and_explains" in t for t in tests)  # slow
    assert not any(t.startswith("tests/test_real_weights.py") for t in tests)  # fullsize
    assert not any("(server" in t or "server]" in t for t in tests)
    hostile = [t for t in tests if t.startswith("tests/test_hostile.py")]
    full = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_hostile.py"],
        cwd=root, capture_output=True, text=True, timeout=600,
    ).stdout
    assert len(hostile) < full.count("tests/test_hostile.py::")  # its server tests are left out
