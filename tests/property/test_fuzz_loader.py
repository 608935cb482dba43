"""The loader on any input: a ``Scenario`` or a ``ScenarioError`` whose problems all have positions.

Never another exception: a crash in the loader is a bug in mpsim, however
strange the file.
"""

from __future__ import annotations

import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.property.harness import load_or_error
from tests.property.strategies import fuzz_settings, mutated_texts, scenario_texts, scenarios

# Characters the format and YAML care about, so random text often gets past the first line.
YAMLISH = st.lists(
    st.one_of(
        st.sampled_from(list(":-{}[],&*!|>'\"#%@`?~ \n\t\r")),
        st.sampled_from(["tasks", "steps", "mutex_lock", "GFP_KERNEL", "<<", "---", "  "]),
        st.characters(),
    ),
    max_size=100,
).map("".join)


@fuzz_settings(300)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300), YAMLISH))
def test_arbitrary_input_loads_or_is_a_positioned_error(data: bytes | str) -> None:
    load_or_error(data)


@fuzz_settings(300)
@given(scenario_texts())
def test_generated_scenarios_load_or_are_positioned_errors(text: str) -> None:
    load_or_error(text)


@fuzz_settings(300)
@given(mutated_texts())
def test_mutated_shipped_scenarios_load_or_are_positioned_errors(data: bytes) -> None:
    load_or_error(data)


@fuzz_settings(100)
@given(scenarios())
def test_generated_scenarios_in_canonical_yaml_load_or_are_positioned_errors(doc: object) -> None:
    # The same documents in YAML's canonical form: tags, explicit documents, quoted keys.
    load_or_error(yaml.safe_dump(doc, canonical=True))
