"""Tests of mempool_cli.scenario.schema: the declarative format and the JSON Schema made from it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from mempool_cli.cli import cli
from mempool_cli.scenario import schema
from mempool_cli.scenario.gfp import COMPOSITE, FLAGS
from mempool_cli.scenario.kernels import KNOBS, PRESET_NAMES
from mempool_cli.scenario.loader import load_text
from mempool_cli.scenario.spec import OUTCOMES
from mempool_cli.scenario.steps import STEP_KINDS

DATA = Path(__file__).resolve().parent.parent / "data"
VALID = sorted(DATA.glob("*.yaml"))

MINIMAL = {"tasks": {"t": {"steps": []}}}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    s = schema.json_schema()
    jsonschema.Draft202012Validator.check_schema(s)
    return jsonschema.Draft202012Validator(s)


def test_is_draft_2020_12() -> None:
    s = schema.json_schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["required"] == ["tasks"]
    assert s["additionalProperties"] is False
    json.dumps(s)  # plain JSON data


def test_there_are_valid_data_files() -> None:
    assert len(VALID) >= 3


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_files_pass_the_schema(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    load_text(path.read_bytes(), str(path))  # and the loader
    validator.validate(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"task": {}}, "unknown top-level key"),
        ({"memory": {"free": "lots"}}, "string for an int"),
        ({"memory": {"free": True}}, "bool for an int"),
        ({"memory": {"free": 1_000_001}}, "too many pages"),
        ({"memory": {"fre": 1}}, "unknown memory key"),
        ({"mpsim": 2}, "version"),
        ({"kernel": "lastest"}, "unknown preset"),
        ({"kernel": {"base": "v4.5", "retry": "v4.6"}}, "knob value"),
        ({"kernel": {"retry": "v4.5"}}, "no base"),
        ({"locks": {"M": "semaphore"}}, "lock kind"),
        ({"locks": {"a lock": "mutex"}}, "lock name"),
        ({"pools": {"p": {"order": 1}}}, "pool without min_nr"),
        ({"completions": {"c": -1}}, "negative initial count"),
        ({"expect": "deadlok"}, "unknown outcome"),
        ({"expect": {"v4.9": "ok"}}, "unknown expect key"),
        ({"tasks": {"t": {"steps": 3}}}, "steps not a list"),
        ({"tasks": {"t": {}}}, "task without steps"),
        ({"tasks": {"t": {"count": 65, "steps": []}}}, "count"),
        ({"tasks": {"t": {"steps": [{"mutex_lok": "M"}]}}}, "unknown step"),
        ({"tasks": {"t": {"steps": [{"mutex_lock": "M", "mutex_unlock": "M"}]}}}, "two-key step"),
        ({"tasks": {"t": {"steps": [{"alloc_pages": {"as": "p"}}]}}}, "gfp missing"),
        ({"tasks": {"t": {"steps": [{"alloc_pages": {"gfp": "GFP_KERNL"}}]}}}, "gfp flag"),
        ({"tasks": {"t": {"steps": [{"alloc_pages": {"gfp": "GFP_KERNEL |"}}]}}}, "gfp syntax"),
        ({"tasks": {"t": {"steps": [{"memalloc_noio_save": 1}]}}}, "save with a value"),
        ({"tasks": {"t": {"steps": [{"repeat": {"times": 2}}]}}}, "repeat without steps"),
        (
            {"tasks": {"t": {"steps": [{"repeat": {"times": 2, "steps": [{"nope": None}]}}]}}},
            "unknown step inside a repeat",
        ),
    ],
)
def test_invalid_documents_fail_the_schema(
    validator: jsonschema.Draft202012Validator, patch: dict[str, Any], where: str
) -> None:
    document = {**MINIMAL, **patch}
    assert not validator.is_valid(document), where


@pytest.mark.parametrize(
    "gfp",
    [
        "GFP_KERNEL",
        "GFP_KERNEL | __GFP_NOFAIL",
        "GFP_NOIO & ~__GFP_DIRECT_RECLAIM",
        "GFP_KERNEL & ~(__GFP_IO | __GFP_FS)",
        "0x400000",
        0,
    ],
)
def test_gfp_expressions_pass(validator: jsonschema.Draft202012Validator, gfp: object) -> None:
    document = {"tasks": {"t": {"steps": [{"alloc_pages": {"gfp": gfp, "as": "p"}}]}}}
    validator.validate(document)


def test_vocabulary_is_offered_for_completion() -> None:
    s = schema.json_schema()
    props = s["properties"]
    assert set(props) == {f.key for f in schema.SCENARIO.fields}
    kernel = props["kernel"]["anyOf"]
    assert kernel[0]["anyOf"][0]["enum"] == list(PRESET_NAMES)
    version = re.compile(kernel[0]["anyOf"][1]["pattern"])
    assert all(version.match(v) for v in ("v5.10", "5.10", "6.6.30"))
    assert not version.match("latest")
    knobs = kernel[1]["properties"]
    assert set(knobs) == {"base", *KNOBS, "nofail_reserves"}
    assert knobs["nofail_reserves"]["type"] == "boolean"
    assert knobs["nofail_forces_oom"]["type"] == "boolean"
    assert knobs["retry"]["enum"] == ["v4.5", "v4.7", "v4.12"]
    outcomes = props["expect"]["anyOf"][0]["enum"]
    assert outcomes == list(OUTCOMES)
    assert set(props["expect"]["anyOf"][2]["properties"]) == {*PRESET_NAMES, "default"}
    step = s["$defs"]["step"]
    control = ["repeat", "loop", "break", "continue", "if", "call"]
    assert list(step["properties"]) == [*STEP_KINDS, *control]  # one object, each step once
    assert step["maxProperties"] == 1 and step["additionalProperties"] is False
    # `- break`, `- local_irq_disable`: every step without a value may be a bare word
    bare = [name for name, kind in STEP_KINDS.items() if not kind.args]
    assert step["then"]["enum"] == ["break", "continue", *bare]
    assert "local_irq_disable" in bare and "mutex_lock" not in bare
    task = props["tasks"]["additionalProperties"]["properties"]
    assert task["flags"]["items"]["enum"] == list(schema.TASK_FLAGS)
    assert task["context"]["default"] == "process"
    alloc = step["properties"]["alloc_pages"]["properties"]
    examples = alloc["gfp"]["examples"]
    assert set(COMPOSITE) <= set(examples)
    needs = props["memory"]["properties"]["reclaimable"]["items"]["properties"]["needs"]
    assert set(needs["items"]["enum"]) == set(COMPOSITE) | set(FLAGS)
    assert props["memory"]["properties"]["free"]["default"] == 16


def test_every_field_has_help() -> None:
    def walk(t: schema.Type) -> None:
        t = schema.resolve(t) if not isinstance(t, schema.Ref) else t
        if isinstance(t, schema.Record | schema.OneKey):
            for f in t.fields if isinstance(t, schema.Record) else t.forms:
                assert f.doc, f.key
                walk(f.type)
        elif isinstance(t, schema.ListOf):
            walk(t.item)
        elif isinstance(t, schema.MapOf):
            walk(t.value)
        elif isinstance(t, schema.AnyOf):
            for option in t.options:
                walk(option)

    walk(schema.SCENARIO)
    walk(schema.STEP)


def test_schema_command_prints_it() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads(json.dumps(schema.json_schema()))
