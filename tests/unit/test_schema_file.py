"""The committed mpsim-schema.json is what `mpsim schema` prints, and every shipped
scenario names it in its yaml-language-server modeline by a path that resolves."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from mempool_cli.cli import cli

REPO = Path(__file__).resolve().parents[2]
MODELINE = re.compile(r"# yaml-language-server: \$schema=(\S+)\n")


def test_the_committed_schema_is_current() -> None:
    printed = CliRunner().invoke(cli, ["schema"]).stdout
    committed = (REPO / "mpsim-schema.json").read_text(encoding="utf-8")
    assert json.loads(printed) == json.loads(committed), (
        "mpsim-schema.json is stale: run `mpsim schema > mpsim-schema.json`"
    )
    assert printed == committed


def test_every_shipped_scenario_names_the_schema_on_its_first_line() -> None:
    files = sorted((REPO / "scenarios").rglob("*.yaml"))
    assert files
    for path in files:
        first = path.read_text(encoding="utf-8").split("\n", 1)[0] + "\n"
        match = MODELINE.fullmatch(first)
        assert match, f"{path}: no modeline on line 1"
        assert (path.parent / match.group(1)).resolve() == REPO / "mpsim-schema.json", path
