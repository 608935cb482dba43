"""The irq-safety rows of lib/locking-selftest.c (``irqsafe1``-``4``, ``irq_inversion``;
hard and soft, the spin variants) that the format expresses with ``interrupts:``
(tests/data/selftest/irq/, the table in docs/model.md): each gives, on every preset,
the deadlock its lockdep FAILURE implies, and each is ``ok`` once its handler runs on a
CPU of its own, as version 1 ran every irq task (the wrong answer revision 2 fixes)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel
from mempool_cli.scenario.kernels import PRESETS
from mempool_cli.scenario.loader import load_scenario

DATA = Path(__file__).resolve().parents[1] / "data" / "selftest" / "irq"
ROWS = (
    "irqsafe1_hard_spin",
    "irqsafe1_soft_spin",
    "irqsafe2A_spin",
    "irqsafe2B_hard_spin",
    "irqsafe2B_soft_spin",
    "irqsafe3_hard_spin",
    "irqsafe3_soft_spin",
    "irqsafe4_hard_spin",
    "irqsafe4_soft_spin",
    "irq_inversion_hard_spin",
    "irq_inversion_soft_spin",
)


def test_every_file_is_a_row() -> None:
    assert {p.stem for p in DATA.glob("*.yaml")} == set(ROWS)


@pytest.mark.parametrize("name", ROWS)
@pytest.mark.parametrize("kernel", sorted(PRESETS))
def test_the_selftest_row_gives_lockdeps_verdict(name: str, kernel: str) -> None:
    scenario = load_scenario(str(DATA / f"{name}.yaml"))
    assert set(explore(KernelModel(scenario, PRESETS[kernel])).outcomes) == {"deadlock"}


@pytest.mark.parametrize("name", ROWS)
def test_on_a_cpu_of_its_own_the_handler_hangs_nothing(name: str) -> None:
    scenario = load_scenario(str(DATA / f"{name}.yaml"))
    tasks = tuple(dataclasses.replace(t, interrupts=None) for t in scenario.tasks)
    alone = dataclasses.replace(scenario, tasks=tasks)
    assert set(explore(KernelModel(alone)).outcomes) == set()


def test_the_doc_table_lists_every_row() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "model.md").read_text()
    for name in ROWS:
        assert f"`{name}`" in doc
