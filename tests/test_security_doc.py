"""The tables of bounds on the bounds page, docs/security.md (the server's, and dataset
runs'), say what the code applies: each row's value is compared with the expression next
to it, evaluated against the code. SECURITY.md keeps the policy and links that page."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import gradio  # noqa: F401 - the table's expressions name it
import gradio.utils  # noqa: F401
import pytest

import app
import cnnvis
import cnnvis.datasets.decode  # noqa: F401
import cnnvis.datasets.explain  # noqa: F401
import cnnvis.datasets.inputs  # noqa: F401
import cnnvis.datasets.parquet  # noqa: F401
import cnnvis.datasets.run  # noqa: F401
import cnnvis.images  # noqa: F401
import cnnvis.ui  # noqa: F401
import cnnvis.ui.inputs  # noqa: F401
import cnnvis.serving.screening  # noqa: F401
import cnnvis.ui.settings  # noqa: F401
import cnnvis.serving.uploads  # noqa: F401
import cnnvis.serving.values  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
BOUNDS_PAGE = ROOT / "docs" / "security.md"
HEADING = "### Bounds of the server (checked against the code)"
DATASET_HEADING = "### Bounds of dataset runs (checked against the code)"


def bound_rows(text: str, heading: str = HEADING) -> list[tuple[str, str, str]]:
    """(bound, value, expression) for each row of the table under ``heading``."""
    assert heading in text, f"docs/security.md has no section {heading!r}"
    section = text.split(heading, 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2].startswith("`") and cells[2].endswith("`"):
            rows.append((cells[0], cells[1], cells[2][1:-1]))
    return rows


def number(value: str) -> float:
    match = re.match(r"^\s*([\d,.]+)\s+\S", value)
    assert match, f"a bound's value must start with a number and a unit: {value!r}"
    return float(match.group(1).replace(",", ""))


def evaluate(expression: str):
    namespace = {"app": app, "cnnvis": cnnvis, "gradio": gradio, "next": next}
    namespace["tests"] = importlib.import_module("tests")
    importlib.import_module("tests.test_memory")
    return eval(expression, namespace)  # noqa: S307 - expressions written in our own document


@pytest.mark.parametrize(("heading", "least"), [(HEADING, 20), (DATASET_HEADING, 10)], ids=["server", "datasets"])
def test_each_table_of_bounds_says_what_the_code_applies(heading, least):
    rows = bound_rows(BOUNDS_PAGE.read_text(), heading)
    assert len(rows) >= least, rows
    wrong = [(bound, value, expression, evaluate(expression)) for bound, value, expression in rows if number(value) != evaluate(expression)]
    assert not wrong, wrong


def test_the_check_catches_a_bound_that_disagrees():
    text = BOUNDS_PAGE.read_text().replace("| 1000000 bytes | `cnnvis.serving.screening.MAX_BODY_BYTES` |", "| 2000000 bytes | `cnnvis.serving.screening.MAX_BODY_BYTES` |")
    [(_, value, expression)] = [row for row in bound_rows(text) if row[2] == "cnnvis.serving.screening.MAX_BODY_BYTES"]
    assert number(value) != evaluate(expression)


def test_security_md_is_the_policy_and_links_the_bounds_page():
    policy = (ROOT / "SECURITY.md").read_text()
    assert "## Reporting a problem" in policy
    assert "(docs/security.md)" in policy
    assert HEADING not in policy and DATASET_HEADING not in policy, "the bounds live on docs/security.md only"
