"""mpsim-schema.json in a real editor back end: yaml-language-server, driven over LSP stdio.

Every shipped scenario (through its modeline) gets no diagnostic; each of
three typical mistakes gets exactly one, on its line; completion at a
step offers each step kind once. `make test` installs the server with
npm into .venv/node; without it the tests skip and say how to get it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mempool_cli.scenario.schema import STEP_FORMS
from tests.editor.lsp import Client

REPO = Path(__file__).resolve().parents[2]
SERVER = Path(
    os.environ.get(
        "MPSIM_YAML_LANGUAGE_SERVER",
        REPO / ".venv" / "node" / "node_modules" / ".bin" / "yaml-language-server",
    )
)
SHIPPED = sorted(REPO.glob("scenarios/**/*.yaml"))

pytestmark = pytest.mark.skipif(
    not SERVER.exists() or shutil.which("node") is None,
    reason=f"yaml-language-server not found at {SERVER} (make test installs it with npm)",
)

SEED = """\
# yaml-language-server: $schema=mpsim-schema.json
mpsim: 1
name: probe
memory: {free: 4, min: 4}
pools:
  pool0: {min_nr: 1}
locks:
  M: mutex
tasks:
  taskA:
    steps:
      - mempool_alloc: {pool: pool0, gfp: GFP_NOIO, as: elem}
      - mutex_lock: M
      - mutex_unlock: M
      - mempool_free: elem
"""


@pytest.fixture(scope="module")
def server() -> Iterator[Client]:
    client = Client([str(SERVER), "--stdio"], REPO)
    yield client
    client.close()


@pytest.fixture
def probe_dir(tmp_path: Path) -> Path:
    shutil.copy(REPO / "mpsim-schema.json", tmp_path / "mpsim-schema.json")
    return tmp_path


def _diagnostics(server: Client, path: Path, text: str | None = None) -> list[dict[str, object]]:
    return server.settled_diagnostics(server.open(path, text))


def test_the_probe_itself_is_clean(server: Client, probe_dir: Path) -> None:
    assert _diagnostics(server, probe_dir / "ok.yaml", SEED) == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_no_diagnostic_on_a_shipped_scenario(server: Client, path: Path) -> None:
    assert _diagnostics(server, path) == []


@pytest.mark.parametrize(
    ("mistake", "old", "new", "line"),
    [
        ("misspelled step", "- mutex_lock: M", "- mutex_lok: M", 12),
        ("bad gfp flag", "gfp: GFP_NOIO,", "gfp: GFP_NOIO | __GFP_NOFAL,", 11),
        ("wrong type", "{min_nr: 1}", "{min_nr: two}", 5),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else "",
)
def test_one_diagnostic_per_mistake_on_its_line(
    server: Client, probe_dir: Path, mistake: str, old: str, new: str, line: int
) -> None:
    assert old in SEED
    text = SEED.replace(old, new, 1)
    found = _diagnostics(server, probe_dir / f"{mistake.replace(' ', '-')}.yaml", text)
    assert len(found) == 1, found
    (diagnostic,) = found
    assert diagnostic["range"]["start"]["line"] == line, diagnostic  # type: ignore[index]
    assert len(str(diagnostic["message"])) < 200, diagnostic["message"]


def test_completion_at_a_step_offers_each_step_kind_once(server: Client, probe_dir: Path) -> None:
    text = SEED.replace("      - mutex_lock: M\n", "      - \n      - mutex_lock: M\n", 1)
    uri = server.open(probe_dir / "complete.yaml", text)
    server.settled_diagnostics(uri)
    line = text.splitlines().index("      - ")
    result = server.request(
        "textDocument/completion",
        {"textDocument": {"uri": uri}, "position": {"line": line, "character": 8}},
    )
    items = result["items"] if isinstance(result, dict) else result
    labels = [item["label"] for item in items]
    kinds = [f.key for f in STEP_FORMS]
    assert sorted(labels) == sorted(kinds), labels
    described = {item["label"]: item.get("documentation") or item.get("detail") for item in items}
    assert all(described[k] for k in kinds), described
