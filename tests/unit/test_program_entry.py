"""A program whose first instruction is a jump starts past it (found by mpsim shrink: a
loop whose body is only ``break`` crashed the model at its first move)."""

from __future__ import annotations

from tests.unit.transitions import load, outcomes


def test_a_loop_that_breaks_at_once_runs_nothing() -> None:
    m = load(
        "locks: {S: mutex}\n"
        "tasks:\n"
        "  A:\n"
        "    steps:\n"
        "      - loop: {steps: [break]}\n"
        "      - mutex_lock: S\n"
    )
    assert m.task_view(m.initial(), 0).pc == 2  # past the break and the loop's back jump
    assert outcomes(m) == {"violation"}  # exits holding S
