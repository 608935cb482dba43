"""docs/format.md documents every key and step `mpsim schema` knows, and every preset,
knob and outcome; and its complete example files are valid scenarios."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mempool_cli.scenario.kernels import KNOBS, PRESET_NAMES
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.scenario.schema import json_schema
from mempool_cli.scenario.spec import OUTCOMES

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "format.md").read_text(encoding="utf-8")


def _keys(node: Any) -> set[str]:
    """Every property name anywhere in the schema (mapping keys of `properties`)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                found.update(value)
            found |= _keys(value)
    elif isinstance(node, list):
        for value in node:
            found |= _keys(value)
    return found


SCHEMA = json_schema()
# Preset names appear as keys of `expect` too; they are checked below with the rest.
WORDS = sorted(
    _keys(SCHEMA)
    | set(SCHEMA["$defs"]["step"]["properties"])
    | set(KNOBS)
    | set(PRESET_NAMES)
    | set(OUTCOMES)
)


def test_the_walk_finds_the_vocabulary() -> None:
    assert {"mpsim", "tasks", "min_nr", "reclaimable", "mutex_lock", "repeat", "forever"} <= set(
        WORDS
    )


@pytest.mark.parametrize("word", WORDS)
def test_every_key_and_step_is_documented(word: str) -> None:
    assert f"`{word}`" in DOC or re.search(rf"\b{re.escape(word)}:", DOC), (
        f"docs/format.md does not document `{word}`"
    )


@pytest.mark.parametrize(
    "text",
    [
        b
        for b in re.findall(r"```yaml\n(.*?)```", DOC, re.S)
        if b.startswith(("mpsim: 1", "# y")) and "tasks:" in b
    ],
)
def test_complete_examples_are_valid(text: str, tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(text)
    load_scenario(str(path))
