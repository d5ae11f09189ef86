"""The Space sync leaves nothing behind: every file it uploads is of a kind it also deletes
when the repository no longer has it (a moved module must not stay importable there)."""

from __future__ import annotations

import fnmatch
import importlib.util
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sync_module():
    spec = importlib.util.spec_from_file_location("sync_space", ROOT / "scripts" / "sync_space.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_uploaded_file_would_be_deleted_once_the_repository_drops_it():
    sync = sync_module()
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    uploaded = [f for f in tracked if not any(fnmatch.fnmatch(f, p) for p in sync.IGNORE)]
    assert "cnnvis/models/loading.py" in uploaded and "app.py" in uploaded
    lingering = [f for f in uploaded if not any(fnmatch.fnmatch(f, p) for p in sync.DELETE)]
    assert lingering == []
    # the Space's own attributes file is never deleted
    assert not any(fnmatch.fnmatch(".gitattributes", p) for p in sync.DELETE)


def test_the_workflow_runs_the_script():
    workflow = (ROOT / ".github" / "workflows" / "sync-space.yml").read_text(encoding="utf-8")
    assert "python scripts/sync_space.py" in workflow
    assert "HfApi" not in workflow  # one place says what is uploaded and deleted
