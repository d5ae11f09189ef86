"""Every example of the README and of docs/ runs as written.

Each Python or shell block is preceded by a comment that says how it runs:

- ``<!-- example: runs anywhere -->``: needs only the repository;
- ``<!-- example: weights -->``: needs MobileNetV2's real ImageNet weights (found as the
  other real-weights tests find them; the page is skipped, with that reason, without them);
- ``<!-- example: server -->``: a ``gradio_client`` block, run against the app started by
  this test (with real weights where they are, else random ones): its address
  ``http://127.0.0.1:7860/`` is replaced by the started server's, nothing else;
- ``<!-- example: not run (<reason>) -->``: set-up commands, servers that run until
  stopped, clusters, downloads; the reason is shown to the reader too.

A page's blocks run in order, in one fresh folder holding links to the repository's
``examples/``, ``app.py``, ``benchmarks/`` and ``scripts/`` (so a block may use what an
earlier block of its page made, and nothing else): Python blocks in this process, in one
namespace per page; shell blocks with ``bash -euo pipefail``, where ``cnnvis`` is the
package's command line and ``python`` this interpreter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import find_weights_dir

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
KINDS = ("runs anywhere", "weights", "server", "not run")
FENCE = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)
MARKER = re.compile(r"<!-- example: (runs anywhere|weights|server|not run \((?P<reason>[^)]+)\)) -->")
ADDRESS = "http://127.0.0.1:7860/"
README_MOST_LINES = 250
LINKED = ("README.md", "SECURITY.md", "app.py", "examples", "benchmarks", "scripts")


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    language: str
    code: str
    kind: str  # one of KINDS, or "" when the block has no marker
    reason: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def examples(page: str) -> list[Example]:
    """The Python and shell blocks of ``page``, each with the marker on the line before it."""
    text = (ROOT / page).read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.fullmatch(before.strip())
        kind = reason = ""
        if marker:
            kind = "not run" if marker.group(1).startswith("not run") else marker.group(1)
            reason = marker.group("reason") or ""
        line = text.count("\n", 0, match.start()) + 1
        found.append(Example(page, line, match.group(1), match.group(2), kind, reason))
    return found


# ----- the pages themselves (quick) -----------------------------------------------------


def test_every_example_says_how_it_runs():
    unmarked = [e.where for page in PAGES for e in examples(page) if not e.kind]
    assert not unmarked, f"blocks without an <!-- example: ... --> line: {unmarked}"
    for page in PAGES:
        for e in examples(page):
            assert e.kind in KINDS, e.where
            if e.kind == "not run":
                assert len(e.reason.split()) >= 3, f"{e.where}: say why it is not run"
            if e.kind == "server":
                assert e.language == "python" and f'Client("{ADDRESS}")' in e.code, e.where


def test_every_page_has_an_example_that_runs():
    for page in PAGES:
        assert any(e.kind != "not run" for e in examples(page)), f"{page} has no example that runs"


def test_the_readme_is_short_and_links_every_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MOST_LINES
    for page in PAGES[1:]:
        assert f"]({page})" in readme, f"the README does not link {page}"
    for heading in ("## Set up and run", "### Weights", "## Test it", "## Examples", "## Documentation"):
        assert f"\n{heading}\n" in readme, heading
    kinds = {e.kind for e in examples("README.md")}
    assert {"weights", "server"} <= kinds


def test_every_relative_link_of_the_pages_leads_to_a_file():
    broken = []
    for page in [*PAGES, "SECURITY.md"]:
        text = (ROOT / page).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) + re.findall(r'src="([^"]+)"', text):
            if "://" in target:
                continue
            if not ((ROOT / page).parent / target).exists():
                broken.append(f"{page}: {target}")
    assert not broken, broken


def test_the_setup_command_installs_the_package_and_its_command_line():
    """The README's one set-up command installs requirements.txt and the package itself
    (so `cnnvis` is a command), and requirements.txt holds what the command line imports."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up and run", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert "pip install -r requirements.txt -e ." in setup
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'cnnvis = "cnnvis.cli:main"' in pyproject
    pins = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    for package in ("pyarrow", "tqdm", "gradio", "tensorflow"):
        assert re.search(rf"(?m)^{package}==", pins), package


# ----- running them (slow: real models, a server) ---------------------------------------


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A fresh folder with links to the repository's files, as the current directory;
    ``cnnvis`` and ``python`` on the PATH of shell blocks."""
    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name)
    bin_dir = tmp_path / ".bin"
    bin_dir.mkdir()
    for name, command in (("cnnvis", f'"{sys.executable}" -m cnnvis'), ("python", f'"{sys.executable}"')):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        shim.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "CNNVIS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    return tmp_path, env


def run_shell(example: Example, cwd: Path, env: dict) -> None:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", example.code],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=3000,
    )
    assert done.returncode == 0, f"{example.where} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    print(done.stdout)


def run_python(example: Example, namespace: dict, url: str | None) -> None:
    code = example.code
    if example.kind == "server":
        code = code.replace(ADDRESS, url)
    exec(compile(code, example.where, "exec"), namespace)  # noqa: S102 - our own documentation


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a guard against a hang, not a speed check: a page runs real models
@pytest.mark.parametrize("page", PAGES)
def test_the_examples_of_each_page_run_as_written(page, folder, monkeypatch):
    cwd, env = folder
    runnable = [e for e in examples(page) if e.kind in ("runs anywhere", "weights", "server")]
    weights = find_weights_dir()
    if any(e.kind == "weights" for e in runnable) and weights is None:
        pytest.skip(f"{page} needs MobileNetV2's real ImageNet weights: set CNNVIS_WEIGHTS_DIR")
    if weights is not None:
        env["CNNVIS_WEIGHTS_DIR"] = str(weights)
        monkeypatch.setenv("CNNVIS_WEIGHTS_DIR", str(weights))
    namespace: dict = {"__name__": "__doc_example__"}
    server = None
    try:
        for example in runnable:
            if example.kind == "server" and server is None:
                from cnnvis.ui import Settings

                from .serve import served

                settings = Settings(weights="imagenet" if weights else "random", weights_dir=str(weights) if weights else None)
                server = served(settings)
                _, url = server.__enter__()
            started = time.perf_counter()
            if example.language == "bash":
                run_shell(example, cwd, env)
            else:
                run_python(example, namespace, url if server is not None else None)
            print(f"{example.where}: ran in {time.perf_counter() - started:.1f} s")
    finally:
        if server is not None:
            server.__exit__(None, None, None)
