"""Revision 2's "Interrupts on the CPU they interrupt" as transition tables: where a
handler may fire (the first and the last point, not inside ``spin_lock_irqsave`` or
``local_bh_disable``, a hard irq inside ``spin_lock_bh``, nested disables), a hard irq over
a softirq and never the reverse, the interrupted task held off, sleeping with interrupts
off, the loader's checks, the outcomes and the words."""

from __future__ import annotations

import pytest

from mempool_cli.analysis.waitfor import waitfor_graph
from mempool_cli.errors import ScenarioError
from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel, State
from mempool_cli.narration import describe, halt_text, where
from mempool_cli.scenario.loader import load_text
from mempool_cli.verdict import run_scenario
from tests.unit.transitions import load, moves, outcomes, step


def scenario(proc: list[str], handler: list[str], context: str = "irq", extra: str = "") -> str:
    """proc (task 0) and a handler (task 1) on proc's CPU, with spinlocks L and K."""
    return (
        "locks: {L: spinlock, K: spinlock, M: mutex}\n"
        "tasks:\n"
        f"  proc:\n    steps: [{', '.join(proc)}]\n"
        f"  h:\n    context: {context}\n    interrupts: proc\n"
        f"    steps: [{', '.join(handler)}]\n" + extra
    )


def fire_points(m: KernelModel) -> set[int | str]:
    """Every pc of proc (task 0) at which the handler (task 1) may fire, over the whole
    state space; "exited" once proc has exited."""
    seen: set[State] = set()
    stack = [m.initial()]
    points: set[int | str] = set()
    while stack:
        s = stack.pop()
        if s in seen:
            continue
        seen.add(s)
        if not m.handler_fired(s, 1) and moves(m, s, 1):
            view = m.task_view(s, 0)
            points.add("exited" if view.exited else view.pc)
        stack.extend(n for _, n, _ in m.successors(s))
    return points


# --- where a handler may fire --------------------------------------------------------


def test_a_handler_fires_at_every_point_with_its_level_on_first_and_last_included() -> None:
    m = load(
        scenario(["spin_lock: L", "spin_unlock: L"], ["complete: C"], extra="completions: [C]")
    )
    # before proc's first step, holding L, after the unlock, and after proc exited
    assert fire_points(m) == {0, 1, 2, "exited"}


def test_no_hard_irq_inside_spin_lock_irqsave() -> None:
    m = load(
        scenario(
            ["spin_lock_irqsave: L", "spin_unlock_irqrestore: L"],
            ["complete: C"],
            extra="completions: [C]",
        )
    )
    assert fire_points(m) == {0, 2, "exited"}


@pytest.mark.parametrize("off", ["local_bh_disable", "spin_lock_bh: L"])
def test_no_softirq_inside_local_bh_disable_but_a_hard_irq_fires_there(off: str) -> None:
    on = "local_bh_enable" if off == "local_bh_disable" else "spin_unlock_bh: L"
    text = scenario([off, on], ["complete: C"], "softirq", "completions: [C]")
    assert fire_points(load(text)) == {0, 2, "exited"}
    text = scenario([off, on], ["complete: C"], "irq", "completions: [C]")
    assert fire_points(load(text)) == {0, 1, 2, "exited"}


@pytest.mark.parametrize(
    "off", ["local_irq_disable", "local_irq_save", "spin_lock_irq: L", "spin_lock_irqsave: L"]
)
def test_hard_irqs_off_hold_off_softirqs_too(off: str) -> None:
    on = {
        "local_irq_disable": "local_irq_enable",
        "local_irq_save": "local_irq_restore",
        "spin_lock_irq: L": "spin_unlock_irq: L",
        "spin_lock_irqsave: L": "spin_unlock_irqrestore: L",
    }[off]
    text = scenario([off, on], ["complete: C"], "softirq", "completions: [C]")
    assert fire_points(load(text)) == {0, 2, "exited"}


def test_nested_disables_keep_interrupts_off_until_the_outer_pair_ends() -> None:
    proc = ["local_irq_save", "local_irq_save", "local_irq_restore", "local_irq_restore"]
    m = load(scenario(proc, ["complete: C"], extra="completions: [C]"))
    assert fire_points(m) == {0, 4, "exited"}
    proc = ["local_bh_disable", "spin_lock_irqsave: L", "spin_unlock_irqrestore: L"]
    proc += ["local_bh_enable"]
    m = load(scenario(proc, ["complete: C"], "irq", "completions: [C]"))
    assert fire_points(m) == {0, 1, 3, 4, "exited"}  # a hard irq once irqs are back on


def test_a_handler_fires_while_its_task_spins_or_sleeps() -> None:
    # proc spins on K (held by other, on another CPU) with irqs on: the handler may fire
    text = (
        "locks: {K: spinlock}\ncompletions: [C]\ntasks:\n"
        "  other: {steps: [spin_lock: K, wait_for_completion: C, spin_unlock: K]}\n"
    )
    m = load(
        text + "  proc: {steps: [spin_lock: K, spin_unlock: K]}\n"
        "  h: {context: irq, interrupts: proc, steps: [complete: C]}\n"
    )
    s = step(m, m.initial(), 0)  # other takes K
    s = step(m, s, 1)  # proc spins on K
    assert m.task_view(s, 1).wait is not None and moves(m, s, 2)


# --- while a handler runs -------------------------------------------------------------


def test_the_interrupted_task_takes_no_step_until_the_handler_returns() -> None:
    m = load(scenario(["spin_lock: K", "spin_unlock: K"], ["spin_lock: L", "spin_unlock: L"]))
    s = step(m, m.initial(), 1)  # the handler fires and takes L
    assert m.handler_fired(s, 1) and m.interrupted_by(s, 0) == 1
    assert moves(m, s, 0) == {}
    assert where(m, s, 0) == "is interrupted: h runs on its CPU"
    s = step(m, s, 1)  # spin_unlock L
    s = step(m, s, 1)  # returns (exits)
    assert m.interrupted_by(s, 0) is None and moves(m, s, 0)


def reachable(m: KernelModel) -> set[State]:
    seen: set[State] = set()
    stack = [m.initial()]
    while stack:
        s = stack.pop()
        if s not in seen:
            seen.add(s)
            stack.extend(n for _, n, _ in m.successors(s))
    return seen


def test_each_copy_fires_once_and_a_run_needs_every_handler_to_have_run() -> None:
    text = (
        "counters: {N: 0}\ntasks:\n  proc: {steps: []}\n"
        "  h: {context: irq, interrupts: proc, count: 2, steps: [atomic_inc: N]}\n"
    )
    m = load(text)
    assert outcomes(m) == set()
    states = reachable(m)
    finals = [s for s in states if m.is_final(s)]
    assert finals and all(m.counter_value(s, 0) == 2 for s in finals)
    assert max(m.counter_value(s, 0) for s in states) == 2  # never a third time
    assert not m.is_final(step(m, m.initial(), 0))  # proc exited, the handlers have not fired


def test_a_hard_irq_fires_over_a_softirq_handler_and_holds_it_off() -> None:
    text = (
        "completions: [C]\ntasks:\n  proc: {steps: []}\n"
        "  soft: {context: softirq, interrupts: proc, steps: [complete: C, complete: C]}\n"
        "  hard: {context: irq, interrupts: proc, steps: [complete: C]}\n"
    )
    m = load(text)
    s = step(m, m.initial(), 1)  # the softirq fires
    assert moves(m, s, 2)  # a hard irq may fire inside it
    s = step(m, s, 2)  # ... and runs (complete C), then must return
    assert m.interrupted_by(s, 1) == 2 and moves(m, s, 1) == {}
    assert moves(m, s, 0) == {}  # proc under both


def test_a_softirq_never_fires_inside_a_hard_irq_handler() -> None:
    text = (
        "completions: [C]\ntasks:\n  proc: {steps: []}\n"
        "  soft: {context: softirq, interrupts: proc, steps: [complete: C]}\n"
        "  hard: {context: irq, interrupts: proc, steps: [complete: C, complete: C]}\n"
    )
    m = load(text)
    s = step(m, m.initial(), 2)  # the hard irq fires
    assert moves(m, s, 1) == {} and moves(m, s, 0) == {}


def test_two_hard_irq_handlers_do_not_nest() -> None:
    text = (
        "completions: [C]\ntasks:\n  proc: {steps: []}\n"
        "  a: {context: irq, interrupts: proc, steps: [complete: C, complete: C]}\n"
        "  b: {context: irq, interrupts: proc, steps: [complete: C]}\n"
    )
    m = load(text)
    s = step(m, m.initial(), 1)
    assert moves(m, s, 2) == {}


def test_a_softirq_handler_with_irqs_off_holds_off_hard_irqs() -> None:
    text = (
        "locks: {L: spinlock}\ncompletions: [C]\ntasks:\n  proc: {steps: []}\n"
        "  soft: {context: softirq, interrupts: proc,"
        " steps: [spin_lock_irqsave: L, spin_unlock_irqrestore: L]}\n"
        "  hard: {context: irq, interrupts: proc, steps: [complete: C]}\n"
    )
    m = load(text)
    s = step(m, m.initial(), 1)  # the softirq fires and takes L with irqs off
    assert moves(m, s, 2) == {}
    s = step(m, s, 1)  # unlock, irqs back on
    assert moves(m, s, 2)


# --- outcomes ------------------------------------------------------------------------


def test_the_classic_deadlock_and_its_fixes() -> None:
    plain = scenario(["spin_lock: L", "spin_unlock: L"], ["spin_lock: L", "spin_unlock: L"])
    assert outcomes(load(plain)) == {"deadlock"}
    assert outcomes(load(plain.replace("context: irq", "context: softirq"))) == {"deadlock"}
    irqsave = scenario(
        ["spin_lock_irqsave: L", "spin_unlock_irqrestore: L"], ["spin_lock: L", "spin_unlock: L"]
    )
    assert outcomes(load(irqsave)) == set()
    bh = scenario(["spin_lock_bh: L", "spin_unlock_bh: L"], ["spin_lock: L", "spin_unlock: L"])
    assert outcomes(load(bh.replace("context: irq", "context: softirq"))) == set()
    assert outcomes(load(bh)) == {"deadlock"}  # _bh does not keep a hard irq out


def test_without_interrupts_a_handler_is_a_cpu_of_its_own_as_in_version_1() -> None:
    plain = scenario(["spin_lock: L", "spin_unlock: L"], ["spin_lock: L", "spin_unlock: L"])
    assert outcomes(load(plain.replace("    interrupts: proc\n", ""))) == set()


def test_sleeping_with_interrupts_off_is_a_violation() -> None:
    for off, on, words in (
        ("local_irq_disable", "local_irq_enable", "with interrupts off"),
        ("local_bh_disable", "local_bh_enable", "with softirqs off"),
        ("spin_lock_irq: L", "spin_unlock_irq: L", "holding spinlock L"),
    ):
        m = load(
            scenario(
                [off, "mutex_lock: M", "mutex_unlock: M", on],
                ["complete: C"],
                extra="completions: [C]",
            )
        )
        assert outcomes(m) == {"violation"}
        s = step(m, step(m, m.initial(), 0), 0)
        assert halt_text(m, s) == f"proc: mutex_lock(M) sleeps {words}"


def test_a_handler_allocates_with_gfp_atomic_and_frees_to_a_mempool() -> None:
    text = (
        "memory: {free: 2}\npools: {P: {min_nr: 1}}\ntasks:\n  proc: {steps: []}\n"
        "  h:\n    context: irq\n    interrupts: proc\n    steps:\n"
        "      - alloc_pages: {gfp: GFP_ATOMIC, as: p}\n      - free_pages: p\n"
        "      - mempool_alloc: {pool: P, gfp: GFP_ATOMIC, as: e}\n      - mempool_free: e\n"
    )
    assert outcomes(load(text)) == set()
    assert outcomes(load(text.replace("GFP_ATOMIC, as: p", "GFP_KERNEL, as: p"))) == {"violation"}


def test_a_task_held_off_its_cpu_never_makes_a_livelock() -> None:
    # proc holds K and goes round a trylock loop on X, held by other, who spins on K: a
    # livelock, until h fires on proc's CPU and spins on K too; then nobody can move, and
    # proc, held off at its loop, is not spinning: deadlock
    text = (
        "locks: {K: spinlock, X: spinlock}\ntasks:\n"
        "  other: {steps: [spin_lock: X, spin_lock: K, spin_unlock: K, spin_unlock: X]}\n"
        "  proc:\n    steps:\n      - spin_lock: K\n"
        "      - loop: {steps: [{spin_trylock: {lock: X, on_fail: [continue]}}, break]}\n"
        "      - spin_unlock: X\n      - spin_unlock: K\n"
        "  h: {context: irq, interrupts: proc, steps: [spin_lock: K, spin_unlock: K]}\n"
    )
    m = load(text)
    s = step(m, m.initial(), 1)  # proc takes K
    s = step(m, step(m, s, 0), 0)  # other takes X, spins on K
    s = step(m, s, 1)  # proc: trylock X fails, goes round
    assert m.loop_spinners([s]) == (1,)
    s = step(m, s, 2)  # h fires on proc's CPU, spins on K
    assert not m.successors(s)
    assert m.classify_hang([s]) == "deadlock" and m.loop_spinners([s]) == ()
    # had h fired and returned before proc took K, proc and other livelock for real
    assert outcomes(m) == {"deadlock", "livelock"}


def test_the_wait_for_graph_names_the_cpu_relation() -> None:
    m = load(scenario(["spin_lock: L", "spin_unlock: L"], ["spin_lock: L", "spin_unlock: L"]))
    s = step(m, step(m, m.initial(), 0), 1)  # proc takes L, h fires and spins on it
    wf = waitfor_graph(m, s)
    assert wf.cycle == ("task:h", "spinlock:L", "task:proc")
    assert wf.explanation == (
        "h spins on spinlock L; L is held by proc with interrupts on; "
        "h (hard irq) interrupts proc on its CPU and must return before proc runs again."
    )
    assert describe(m, step(m, m.initial(), 0), (1, 0)) == (
        "h: hard irq fires on proc's CPU: proc waits until it returns; "
        "spin_lock(L) -> spins, held by proc"
    )


# --- the loader ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "tasks:\n  proc: {steps: []}\n  h: {interrupts: proc, steps: []}\n",
            "'interrupts' is for an irq or softirq handler; add 'context: irq' or "
            "'context: softirq' to this task",
        ),
        (
            "tasks:\n  proc: {steps: []}\n  h: {context: irq, interrupts: prc, steps: []}\n",
            "unknown task 'prc' (did you mean 'proc'?)",
        ),
        (
            "tasks:\n  proc: {count: 2, steps: []}\n"
            "  h: {context: irq, interrupts: proc, steps: []}\n",
            "'proc' has count 2; a handler interrupts one task's CPU, so it may name only a "
            "task without 'count'",
        ),
        (
            "tasks:\n  s: {context: softirq, steps: []}\n"
            "  h: {context: irq, interrupts: s, steps: []}\n",
            "'s' runs in softirq context; 'interrupts' names the process-context task whose "
            "CPU the handler interrupts",
        ),
        (
            "tasks:\n  proc: {steps: []}\n"
            "  h: {context: irq, daemon: true, interrupts: proc, steps: []}\n",
            "a handler with 'interrupts' fires once and runs to its end; it cannot be a daemon",
        ),
        (
            "tasks:\n  proc: {steps: [local_irq_disable]}\n",
            "local_irq_disable is never undone (no local_irq_enable)",
        ),
        (
            "tasks:\n  proc: {steps: [local_bh_enable]}\n",
            "local_bh_enable without an earlier local_bh_disable",
        ),
        (
            "locks: {L: spinlock}\n"
            "tasks:\n  proc: {steps: [spin_lock_irqsave: L, spin_unlock_irq: L]}\n",
            "spin_unlock_irq without an earlier spin_lock_irq",
        ),
    ],
)
def test_loader_errors(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_text(text, "t.yaml")
    assert message in [p.message for p in info.value.problems]


def test_symmetric_handler_copies_keep_the_outcomes() -> None:
    text = (
        "locks: {L: spinlock}\ncounters: {N: 0}\ntasks:\n"
        "  proc: {steps: [spin_lock: L, atomic_inc: N, spin_unlock: L]}\n"
        "  h: {context: irq, interrupts: proc, count: 2,"
        " steps: [spin_lock: L, atomic_inc: N, spin_unlock: L]}\n"
    )
    reduced = KernelModel(load_text(text, "t.yaml"))
    assert reduced.symmetric
    assert set(explore(reduced).outcomes) == outcomes(load(text)) == {"deadlock"}


# --- the hint ------------------------------------------------------------------------


def hints_of(text: str) -> list[str]:
    sc = load_text(text, "t.yaml")
    return [h for f in run_scenario(sc, sc.kernel).findings for h in f.hints]


def test_the_hint_names_the_irq_safe_lock_step_and_is_checked() -> None:
    plain = scenario(["spin_lock: L", "spin_unlock: L"], ["spin_lock: L", "spin_unlock: L"])
    (hint,) = hints_of(plain)
    assert "spin_lock_irqsave(L) / spin_unlock_irqrestore(L) in proc" in hint
    (hint,) = hints_of(plain.replace("context: irq", "context: softirq"))
    assert "spin_lock_bh(L) / spin_unlock_bh(L) in proc" in hint
    # proc also deadlocks with other over L and M (ABBA): irqsave would not end the deadlock,
    # so the hint is not given
    abba = plain.replace(
        "steps: [spin_lock: L, spin_unlock: L]\n  h:",
        "steps: [spin_lock: L, spin_lock: K, spin_unlock: K, spin_unlock: L]\n"
        "  other: {steps: [spin_lock: K, spin_lock: L, spin_unlock: L, spin_unlock: K]}\n  h:",
        1,
    )
    assert abba != plain and "deadlock" in outcomes(load(abba))
    assert not [h for h in hints_of(abba) if "irqsave" in h]


def test_the_oom_killer_never_chooses_a_handler() -> None:
    # proc loops for a page with the killer on; the only other task is a handler with rss:
    # nothing to kill but proc itself (oom_score_adj -1000 keeps it too): a panic
    text = (
        "memory: {free: 0, min: 0}\noom: {killer: true}\ntasks:\n"
        "  proc: {oom_score_adj: -1000, steps: [alloc_pages: {gfp: GFP_KERNEL, as: p}, "
        "free_pages: p]}\n"
        "  h: {context: irq, interrupts: proc, rss: 4, steps: []}\n"
    )
    assert "oom-kill" not in outcomes(load(text))
    assert "oom-kill" in outcomes(load(text.replace("interrupts: proc, ", "")))
