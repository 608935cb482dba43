"""``mpsim run --potential``: lockdep's lock-order graph over the explored states
(kernel/lockdep.py for the rules, analysis/lockorder.py for the walk and the cycles)."""

from __future__ import annotations

import json
from pathlib import Path

from mempool_cli.analysis.lockorder import lock_order_graph
from mempool_cli.kernel.model import KernelModel
from mempool_cli.report import to_json
from mempool_cli.scenario.loader import load_scenario, load_text
from mempool_cli.verdict import Limits, run_scenario

DATA = Path(__file__).parent.parent / "data" / "potential"

# A task holding M allocates; reclaim of the second entry needs M (nofs-recursion's shape,
# with enough memory that no execution reclaims: lockdep still sees both orders).
RECLAIM_UNDER_MUTEX = """\
mpsim: 1
name: fs-reclaim
kernel: latest
memory:
  free: 16
  min: 4
  reclaimable:
    - {{pages: 4, needs: [__GFP_FS], locks: [M], name: fs_cache}}
locks:
  M: mutex
tasks:
  t:
    steps:
      {scope_save}
      - mutex_lock: M
      - alloc_pages: {{gfp: {gfp}, as: page}}
      - mutex_unlock: M
      - free_pages: page
      {scope_restore}
"""


def reclaim_scenario(gfp: str, scope: bool = False) -> str:
    return RECLAIM_UNDER_MUTEX.format(
        gfp=gfp,
        scope_save="- memalloc_nofs_save" if scope else "",
        scope_restore="- memalloc_nofs_restore" if scope else "",
    )


def orders(text: str) -> set[tuple[str, str]]:
    model = KernelModel(load_text(text, "t.yaml"))
    return {(o.held, o.taken) for o in lock_order_graph(model).orders}


def cycles(text: str) -> list[list[str]]:
    model = KernelModel(load_text(text, "t.yaml"))
    return [[o.held for o in c] for c in lock_order_graph(model).cycles()]


def potential(text: str) -> list[dict[str, object]]:
    sc = load_text(text, "t.yaml")
    out = to_json(run_scenario(sc, sc.kernel, Limits(potential=True)))["potential"]
    assert isinstance(out, list)
    return out


def test_serialised_abba_is_a_potential_cycle_that_cannot_hang() -> None:
    sc = load_scenario(str(DATA / "abba-serialised.yaml"))
    result = run_scenario(sc, sc.kernel, Limits(potential=True))
    assert result.outcomes == frozenset()  # ok: S serialises the two orders
    assert result.potential is not None
    [cycle] = [c for c in result.potential if len(c.cycle) == 2]
    assert cycle.cycle == ("mutex:A", "mutex:B")
    assert not cycle.reachable_hang
    by_pair = {(o.held, o.taken): o for o in cycle.orders}
    ab, ba = by_pair["mutex:A", "mutex:B"], by_pair["mutex:B", "mutex:A"]
    assert (ab.task, ba.task) == ("t1", "t2")
    # the witness replays: its last step is the one that takes the lock
    assert ab.step == 3 and ab.schedule == "t1,t1,t1"
    # S -> A and S -> B are orders too, but no cycle
    assert all("mutex:S" not in c.cycle for c in result.potential)


def test_unserialised_abba_can_hang() -> None:
    text = (DATA / "abba-serialised.yaml").read_text()
    text = text.replace("      - mutex_lock: S\n", "").replace("      - mutex_unlock: S\n", "")
    [cycle] = potential(text)
    assert cycle["cycle"] == ["mutex:A", "mutex:B"]
    assert cycle["reachable_hang"] is True


def test_gfp_kernel_under_a_mutex_that_reclaim_takes_is_an_fs_reclaim_cycle() -> None:
    text = reclaim_scenario("GFP_KERNEL")
    assert ("mutex:M", "fs_reclaim") in orders(text)
    assert ("fs_reclaim", "mutex:M") in orders(text)  # kswapd reclaims fs_cache inside it
    assert cycles(text) == [["mutex:M", "fs_reclaim"]]
    [cycle] = potential(text)
    # 16 pages free: no execution reclaims, so no hang, but lockdep would warn
    assert cycle["reachable_hang"] is False
    m_fs, fs_m = cycle["orders"]
    assert (m_fs["task"], m_fs["step"]) == ("t", 2)
    assert (fs_m["task"], fs_m["step"], fs_m["entry"]) == (None, None, "fs_cache")


def test_fs_reclaim_cycle_with_the_hang_reachable() -> None:
    text = reclaim_scenario("GFP_KERNEL").replace("free: 16", "free: 4")
    kinds = {tuple(c["cycle"]): c["reachable_hang"] for c in potential(text)}
    assert kinds == {("mutex:M",): True, ("mutex:M", "fs_reclaim"): True}


def test_gfp_nofs_and_the_nofs_scope_order_nothing_before_fs_reclaim() -> None:
    for text in (reclaim_scenario("GFP_NOFS"), reclaim_scenario("GFP_KERNEL", scope=True)):
        found = orders(text)
        assert not any(taken == "fs_reclaim" for _, taken in found)
        assert cycles(text) == []
        assert potential(text) == []


def test_no_direct_reclaim_and_pf_memalloc_take_no_fs_reclaim() -> None:
    assert not any(t == "fs_reclaim" for _, t in orders(reclaim_scenario("GFP_ATOMIC")))
    text = reclaim_scenario("GFP_KERNEL").replace(
        "      - mutex_lock: M\n", "      - memalloc_noreclaim_save\n      - mutex_lock: M\n"
    )
    text = text.replace(
        "      - free_pages: page\n",
        "      - free_pages: page\n      - memalloc_noreclaim_restore\n",
    )
    assert not any(t == "fs_reclaim" for _, t in orders(text))


COMPLETION = """\
mpsim: 1
name: completion
kernel: latest
locks:
  A: mutex
completions: [C]
tasks:
  waiter:
    steps:
      - mutex_lock: A
      - wait_for_completion: C
      - mutex_unlock: A
  completer:
    steps:
      - mutex_lock: A
      - mutex_unlock: A
      - complete: C
"""


def test_a_completion_wait_under_a_lock_the_completer_takes() -> None:
    found = orders(COMPLETION)
    assert ("mutex:A", "completion:C") in found  # waiter: holds A, waits for C
    assert ("completion:C", "mutex:A") in found  # completer: takes A before complete(C)
    [cycle] = potential(COMPLETION)
    assert cycle["cycle"] == ["mutex:A", "completion:C"]
    assert cycle["reachable_hang"] is True


def test_a_completer_that_takes_the_lock_after_completing_orders_nothing() -> None:
    text = COMPLETION.replace(
        "      - mutex_lock: A\n      - mutex_unlock: A\n      - complete: C\n",
        "      - complete: C\n      - mutex_lock: A\n      - mutex_unlock: A\n",
    )
    assert ("completion:C", "mutex:A") not in orders(text)
    assert potential(text) == []


def test_trylocks_order_nothing_before_them() -> None:
    text = (DATA / "abba-serialised.yaml").read_text()
    text = text.replace("      - mutex_lock: S\n", "").replace("      - mutex_unlock: S\n", "")
    text = text.replace(
        "      - mutex_lock: B\n      - mutex_lock: A\n",
        "      - mutex_lock: B\n      - mutex_trylock: {lock: A, on_fail: [{mutex_unlock: B}]}\n",
    )
    assert ("mutex:B", "mutex:A") not in orders(text)


def test_rwsem_read_holds_count() -> None:
    text = (DATA / "abba-serialised.yaml").read_text()
    text = text.replace("      - mutex_lock: S\n", "").replace("      - mutex_unlock: S\n", "")
    text = text.replace("A: mutex", "A: rwsem").replace("B: mutex", "B: rwsem")
    text = text.replace("mutex_lock: A", "down_read: A").replace("mutex_unlock: A", "up_read: A")
    text = text.replace("mutex_lock: B", "down_read: B").replace("mutex_unlock: B", "up_read: B")
    text = text.replace("expect: ok", "")
    [cycle] = potential(text)
    assert cycle["cycle"] == ["rwsem:A", "rwsem:B"]
    assert cycle["reachable_hang"] is False  # read-read ABBA without a writer: ok in mpsim


def test_json_has_no_potential_key_without_the_flag() -> None:
    sc = load_scenario(str(DATA / "abba-serialised.yaml"))
    plain = to_json(run_scenario(sc, sc.kernel))
    assert "potential" not in plain
    asked = to_json(run_scenario(sc, sc.kernel, Limits(potential=True)))
    assert json.loads(json.dumps(asked))["potential_complete"] is True


def test_the_text_report_names_each_order_and_the_hang() -> None:
    from mempool_cli.render import run_report

    sc = load_scenario(str(DATA / "abba-serialised.yaml"))
    text = run_report([run_scenario(sc, sc.kernel, Limits(potential=True))], to_terminal=False)
    assert "potential (lockdep would warn):" in text
    assert "A -> B (t1: holds A, takes B at step 3" in " ".join(text.split())
    assert "no hang on it is reachable in this scenario" in " ".join(text.split())


def test_a_handler_orders_what_it_takes_after_what_the_interrupted_task_holds() -> None:
    # lockdep's irq inversion (the lan966x report): cpu0 holds A with softirqs on, the
    # softirq on its CPU takes B; cpu1 takes B then A. The handler's B is ordered after A.
    text = (
        "locks: {A: spinlock, B: spinlock}\ntasks:\n"
        "  cpu0: {steps: [spin_lock: A, spin_unlock: A]}\n"
        "  rx: {context: softirq, interrupts: cpu0, steps: [spin_lock: B, spin_unlock: B]}\n"
        "  cpu1: {steps: [local_irq_disable, spin_lock: B, spin_lock: A, spin_unlock: A, "
        "spin_unlock: B, local_irq_enable]}\n"
    )
    with_handler = cycles(text)
    assert {"spinlock:A", "spinlock:B"} in [set(c) for c in with_handler]
    # on a CPU of its own the softirq holds nothing of cpu0's: no cycle
    assert not cycles(text.replace("interrupts: cpu0, ", ""))
