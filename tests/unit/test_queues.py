"""Revision 2's "Work handed to another context" as transition tables: a queue empty
(dequeue sleeps; nowait fails into on_fail), full (enqueue sleeps until a dequeue makes
room), exactly at capacity, FIFO order, a handle handed over (the enqueuer holds nothing,
the dequeuer owns it, the enqueuer freeing it is a violation, in flight at the end is no
leak), a null enqueue, work items, atomic context, unwinding, a worker pool of two
daemons under symmetry, the partial-order rule, the loader's errors, the wait-for graph
and the words."""

from __future__ import annotations

import pytest

from mempool_cli.analysis.waitfor import waitfor_graph
from mempool_cli.errors import ScenarioError
from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel, State
from mempool_cli.narration import changes, describe, halt_text, where
from mempool_cli.scenario.loader import load_text
from tests.unit.transitions import events, load, moves, outcomes, step


def run(m: KernelModel, s: State, t: int, n: int) -> State:
    for _ in range(n):
        s = step(m, s, t)
    return s


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_text(text, "t.yaml")
    return [p.message for p in info.value.problems]


# Every allocation below comes from the free list (free well above min), so one move of a
# task is one whole step.
PAGES = "memory: {free: 64, min: 4}\n"


# --- declaration ----------------------------------------------------------------------


def test_capacity_and_its_default_and_every_queue_starts_empty() -> None:
    m = load("queues: {A: {capacity: 2}, B: {}}\ntasks: {t: {steps: []}}")
    assert [(q.name, q.capacity) for q in m.queues] == [("A", 2), ("B", 64)]
    s = m.initial()
    assert m.queue_items(s, 0) == () and m.queue_items(s, 1) == ()


def test_no_queues_no_change_to_the_shared_field() -> None:
    m = load("completions: [C]\ncounters: {N: 3}\ntasks: {t: {steps: []}}")
    assert m.initial()[3] == (0, 3)  # the queues add nothing when there are none


# --- empty: dequeue sleeps, or with nowait fails ----------------------------------------

EMPTY = """
queues: {Q: {}}
tasks:
  w:
    steps:
      - dequeue: {queue: Q}
  p:
    steps:
      - enqueue: {queue: Q}
"""


def test_dequeue_on_an_empty_queue_sleeps_until_an_enqueue() -> None:
    m = load(EMPTY)
    s = m.initial()
    assert events(m, s, 0) == ["dequeue_sleeps"]
    assert describe(m, s, (0, 0)) == "w: sleeps in dequeue: Q is empty"
    s = step(m, s, 0)
    view = m.task_view(s, 0)
    assert view.wait is not None and (view.wait.kind, view.wait.call) == ("queue", "dequeue")
    assert moves(m, s, 0) == {}  # asleep: no move while Q is empty
    assert where(m, s, 0) == "sleeps in dequeue: Q is empty"
    g = waitfor_graph(m, s)
    assert g.graph.edges["task:w", "queue:Q"]["type"] == "waits_for"
    assert g.graph.edges["queue:Q", "task:p"]["type"] == "filled_by"
    s = step(m, s, 1)  # p enqueues a work item
    assert m.queue_items(s, 0) == (("work",),)
    assert events(m, s, 0) == ["queue_wakes", "dequeued"]
    s = step(m, s, 0)
    assert m.queue_items(s, 0) == () and m.task_view(s, 0).wait is None
    assert outcomes(m) == set()


def test_a_dequeue_nobody_fills_is_a_deadlock_on_a_dead_end() -> None:
    m = load("queues: {Q: {}}\ntasks: {w: {steps: [{dequeue: {queue: Q}}]}}")
    s = step(m, m.initial(), 0)
    g = waitfor_graph(m, s)
    assert "queue Q has no way out: it is empty and no live task will enqueue on it" in (
        g.explanation
    )
    assert outcomes(m) == {"deadlock"}


def test_nowait_on_an_empty_queue_fails_binds_null_and_runs_on_fail() -> None:
    m = load(
        PAGES
        + """
queues: {Q: {}}
tasks:
  w:
    steps:
      - dequeue:
          queue: Q
          as: bio
          nowait: true
          on_fail: [{alloc_pages: {gfp: GFP_KERNEL, as: p}}]
      - free_pages: bio
      - if: {null: p, then: [], else: [{free_pages: p}]}
"""
    )
    s = m.initial()
    assert events(m, s, 0) == ["dequeue_empty", "on_fail"]
    assert describe(m, s, (0, 0)).startswith("w: dequeue(Q, nowait): empty, fails")
    s = step(m, s, 0)
    assert m.handle_value(s, 0, 0) == ("null",)  # bio: null, as bio_list_pop returns
    s = step(m, s, 0)  # the on_fail list: alloc_pages as p
    assert m.handle_value(s, 0, 1) == ("p", 0)
    assert outcomes(m) == set()


def test_nowait_on_a_queue_with_an_item_takes_it() -> None:
    m = load(
        """
queues: {Q: {}}
tasks:
  w:
    steps:
      - enqueue: {queue: Q}
      - dequeue: {queue: Q, nowait: true, on_fail: [{enqueue: {queue: Q}}]}
"""
    )
    s = step(m, m.initial(), 0)
    assert events(m, s, 0) == ["dequeued"]
    assert m.queue_items(step(m, s, 0), 0) == ()


# --- full: enqueue sleeps until a dequeue makes room; exactly capacity fits -------------


def producer(capacity: int, items: int) -> KernelModel:
    return load(
        f"""
queues: {{Q: {{capacity: {capacity}}}}}
tasks:
  p:
    steps:
      - repeat: {{times: {items}, steps: [{{enqueue: {{queue: Q}}}}]}}
  c:
    steps:
      - dequeue: {{queue: Q}}
"""
    )


def test_exactly_capacity_items_fit_without_sleeping() -> None:
    m = producer(capacity=3, items=3)
    s = run(m, m.initial(), 0, 3)
    assert len(m.queue_items(s, 0)) == 3
    assert m.task_view(s, 0).wait is None  # never slept
    assert events(m, m.initial(), 0) == ["enqueued"]


def test_one_more_than_capacity_sleeps_and_a_dequeue_makes_room() -> None:
    m = producer(capacity=2, items=3)
    s = run(m, m.initial(), 0, 2)
    assert events(m, s, 0) == ["enqueue_sleeps"]
    assert describe(m, s, (0, 0)) == "p: sleeps in enqueue: Q is full (2/2)"
    s = step(m, s, 0)
    assert m.task_view(s, 0).wait.call == "enqueue"  # type: ignore[union-attr]
    assert where(m, s, 0) == "sleeps in enqueue: Q is full (2/2)"
    assert moves(m, s, 0) == {}
    g = waitfor_graph(m, s)
    assert g.graph.edges["queue:Q", "task:c"]["type"] == "drained_by"
    s = step(m, s, 1)  # c dequeues one: room
    assert len(m.queue_items(s, 0)) == 1
    assert events(m, s, 0) == ["queue_wakes", "enqueued"]
    s = step(m, s, 0)
    assert len(m.queue_items(s, 0)) == 2 and m.task_view(s, 0).exited is False
    assert outcomes(m) == set()


def test_a_full_queue_nobody_drains_is_a_deadlock() -> None:
    m = load(
        "queues: {Q: {capacity: 1}}\n"
        "tasks: {p: {steps: [{enqueue: {queue: Q}}, {enqueue: {queue: Q}}]}}"
    )
    assert outcomes(m) == {"deadlock"}


# --- FIFO ----------------------------------------------------------------------------


def test_items_come_out_oldest_first() -> None:
    m = load(
        PAGES
        + """
queues: {Q: {}}
tasks:
  p:
    steps:
      - alloc_pages: {gfp: GFP_KERNEL, order: 0, as: a}
      - alloc_pages: {gfp: GFP_KERNEL, order: 2, as: b}
      - enqueue: {queue: Q, handle: a}
      - enqueue: {queue: Q}
      - enqueue: {queue: Q, handle: b}
  c:
    steps:
      - dequeue: {queue: Q, as: x}
      - dequeue: {queue: Q}
      - dequeue: {queue: Q, as: y}
      - free_pages: x
      - free_pages: y
"""
    )
    s = run(m, m.initial(), 0, 5)
    assert m.queue_items(s, 0) == (("p", 0), ("work",), ("p", 2))
    s = step(m, s, 1)
    assert m.handle_value(s, 1, 0) == ("p", 0)
    s = run(m, s, 1, 2)
    assert m.handle_value(s, 1, 1) == ("p", 2)
    assert outcomes(m) == set()


# --- handing a handle over -------------------------------------------------------------

HANDOVER = """
memory: {{free: 4, min: 4}}
queues: {{Q: {{}}}}
pools: {{P: {{min_nr: 1}}}}
tasks:
  sub:
    steps:
      - mempool_alloc: {{pool: P, gfp: GFP_NOIO, as: bio}}
      - enqueue: {{queue: Q, handle: bio}}
{tail}
  endio:
    steps:
      - dequeue: {{queue: Q, as: done}}
      - mempool_free: done
"""


def handover(tail: str = "") -> KernelModel:
    return load(HANDOVER.format(tail=tail))


def test_the_enqueuer_holds_nothing_and_the_dequeuer_owns_the_element() -> None:
    m = handover()
    s = m.initial()
    while m.task_view(s, 0).pc < 1:  # mempool_alloc's stages, to the enqueue
        s = step(m, s, 0)
    assert m.task_view(s, 0).elements == (1,)
    assert describe(m, s, (0, 0)) == "sub: enqueues bio on Q (1 queued)"
    s = step(m, s, 0)
    assert m.task_view(s, 0).elements == (0,)  # no longer holds it
    assert m.handle_sent_to(s, 0, 0) == 0
    assert m.queue_items(s, 0) == (("e", 0),)
    assert changes(m, step(m, s, 1), step(m, step(m, s, 1), 1)) == [("P", "0 -> 1 of 1")]
    s = step(m, s, 0)  # sub exits: holding nothing in bio is fine
    assert m.task_view(s, 0).exited and not m.halted(s)
    assert describe(m, s, (1, 0)) == "endio: dequeues an element of pool P from Q as done (0 left)"
    s = step(m, s, 1)
    assert m.task_view(s, 1).elements == (1,)  # endio owns it now
    s = step(m, s, 1)  # mempool_free: back into its own pool
    assert m.curr_nr(s, 0) == 1
    assert outcomes(m) == set()


def test_the_dequeuer_that_does_not_free_the_element_leaks_it_at_exit() -> None:
    m = load(HANDOVER.format(tail="").replace("      - mempool_free: done\n", ""))
    assert outcomes(m) == {"violation"}


def test_a_handle_in_flight_when_the_run_ends_is_not_a_leak() -> None:
    m = load(HANDOVER.format(tail="").split("  endio:")[0])  # nobody ever dequeues it
    result = explore(m)
    assert set(result.outcomes) == set()


def test_the_enqueuer_freeing_what_it_handed_over_is_a_violation() -> None:
    # The enqueue inside a branch: the loader cannot say the free follows it on every path
    m = load(
        HANDOVER.format(tail="").replace(
            "      - enqueue: {queue: Q, handle: bio}\n",
            "      - if: {not_null: bio, then: [{enqueue: {queue: Q, handle: bio}}]}\n"
            "      - mempool_free: bio\n",
        )
    )
    s = m.initial()
    while m.task_view(s, 0).pc < 3:  # the alloc, the if, the enqueue
        s = step(m, s, 0)
    s = step(m, s, 0)
    assert m.halted(s)
    assert halt_text(m, s) == "sub: mempool_free(bio) frees a handle it handed to queue Q"
    assert outcomes(m) == {"violation"}


def test_free_pages_of_a_handed_over_handle_and_enqueuing_it_twice_are_violations() -> None:
    text = (
        PAGES
        + """
queues: {Q: {}, R: {}}
tasks:
  t:
    steps:
      - alloc_pages: {gfp: GFP_KERNEL, as: p}
      - if: {not_null: p, then: [{enqueue: {queue: Q, handle: p}}]}
      - STEP
"""
    )
    m = load(text.replace("STEP", "free_pages: p"))
    s = run(m, m.initial(), 0, 4)
    assert halt_text(m, s) == "t: free_pages(p) frees a handle it handed to queue Q"
    m = load(text.replace("STEP", "enqueue: {queue: R, handle: p}"))
    s = run(m, m.initial(), 0, 4)
    assert halt_text(m, s) == "t: enqueue(R, p): p was already handed to queue Q"


def test_the_loader_refuses_a_use_that_follows_the_enqueue_on_every_path() -> None:
    messages = problems(HANDOVER.format(tail="      - mempool_free: bio"))
    assert messages == [
        "handle 'bio' is used after 'enqueue' handed it to queue 'Q' (line 9); the task no "
        "longer holds it until an 'as: bio' binds it again"
    ]
    # bound again: fine
    load_text(
        HANDOVER.format(
            tail="      - mempool_alloc: {pool: P, gfp: GFP_NOIO, as: bio}\n"
            "      - mempool_free: bio"
        ),
        "t.yaml",
    )
    # testing the pointer is no use of it
    load_text(HANDOVER.format(tail="      - if: {null: bio, then: []}"), "t.yaml")


def test_the_submitter_may_get_its_handle_back_through_the_queue() -> None:
    m = load(
        PAGES
        + """
queues: {Q: {}}
tasks:
  t:
    steps:
      - alloc_pages: {gfp: GFP_KERNEL, as: p}
      - enqueue: {queue: Q, handle: p}
      - dequeue: {queue: Q, as: p}
      - free_pages: p
"""
    )
    s = run(m, m.initial(), 0, 3)
    assert m.handle_value(s, 0, 0) == ("p", 0) and m.handle_sent_to(s, 0, 0) is None
    assert outcomes(m) == set()


# --- null, work items, a dropped element -----------------------------------------------


def test_enqueue_of_a_null_handle_is_a_violation() -> None:
    m = load(
        """
memory: {free: 4, min: 4}
queues: {Q: {}}
tasks:
  t:
    steps:
      - alloc_pages: {gfp: GFP_NOWAIT, as: p}
      - enqueue: {queue: Q, handle: p}
"""
    )
    s = step(m, m.initial(), 0)  # GFP_NOWAIT at min: NULL
    assert m.handle_value(s, 0, 0) == ("null",)
    s = step(m, s, 0)
    assert halt_text(m, s) == "t: enqueue(Q, p) of a null handle"
    assert outcomes(m) == {"violation"}


def test_a_handle_item_dequeued_without_as_is_a_leak_and_a_work_item_into_as_is_null() -> None:
    m = load(
        PAGES
        + """
queues: {Q: {}}
tasks:
  t:
    steps:
      - alloc_pages: {gfp: GFP_KERNEL, as: p}
      - enqueue: {queue: Q, handle: p}
      - dequeue: {queue: Q}
"""
    )
    s = run(m, m.initial(), 0, 3)
    assert halt_text(m, s) == "t: dequeue(Q) without `as:` drops 1 page(s) (leak)"
    m = load(
        """
queues: {Q: {}}
tasks:
  t:
    steps:
      - enqueue: {queue: Q}
      - dequeue: {queue: Q, as: h}
      - free_pages: h
"""
    )
    s = run(m, m.initial(), 0, 2)
    assert m.handle_value(s, 0, 0) == ("null",)
    assert outcomes(m) == set()  # free_pages of null: a no-op


# --- atomic context: only a step that has to sleep ------------------------------------

ATOMIC = """
queues: {{Q: {{capacity: 1}}}}
locks: {{S: spinlock}}
tasks:
  t:
    context: {context}
    steps:
{steps}
"""


def atomic(steps: list[str], context: str = "process") -> KernelModel:
    return load(ATOMIC.format(context=context, steps="\n".join(f"      - {s}" for s in steps)))


def test_enqueue_with_room_under_a_spinlock_or_in_irq_context_is_fine() -> None:
    assert outcomes(atomic(["spin_lock: S", "enqueue: {queue: Q}", "spin_unlock: S"])) == set()
    assert outcomes(atomic(["enqueue: {queue: Q}"], context="irq")) == set()
    nowait = "dequeue: {queue: Q, nowait: true, on_fail: []}"
    assert outcomes(atomic([nowait], context="softirq")) == set()


def test_sleeping_in_enqueue_or_dequeue_in_atomic_context_is_a_violation() -> None:
    m = atomic(["enqueue: {queue: Q}", "spin_lock: S", "enqueue: {queue: Q}"])
    s = run(m, m.initial(), 0, 3)
    assert halt_text(m, s) == "t: enqueue(Q) sleeps holding spinlock S"
    m = atomic(["dequeue: {queue: Q}"], context="irq")
    s = step(m, m.initial(), 0)
    assert halt_text(m, s) == "t: dequeue(Q) sleeps in irq context"


# --- unwinding --------------------------------------------------------------------------


def test_a_killed_task_hands_its_handle_over_and_skips_the_dequeue() -> None:
    m = load(
        PAGES
        + """
queues: {Q: {}}
tasks:
  t:
    oom_victim: true
    steps:
      - alloc_pages: {gfp: GFP_KERNEL, as: p}
      - enqueue: {queue: Q, handle: p}
      - dequeue: {queue: Q, as: x}
      - free_pages: x
      - enqueue: {queue: Q}
"""
    )
    s = step(m, m.initial(), 0)  # the allocation, in progress at start
    assert m.task_view(s, 0).pc == 1
    s = step(m, s, 0)  # the enqueue releases p into Q; the dequeue and free are skipped
    assert m.queue_items(s, 0) == (("p", 0),)
    assert m.info[0].program.instrs[m.task_view(s, 0).pc].op == "enqueue"  # the work item
    s = step(m, s, 0)
    assert m.queue_items(s, 0) == (("p", 0), ("work",))
    assert outcomes(m) == set()


# --- a worker pool: two daemons on one queue, symmetric ----------------------------------

POOL = """
memory: {{free: 4, min: 4}}
queues: {{end_io: {{capacity: 2}}}}
pools: {{bios: {{min_nr: 2}}}}
tasks:
  sub:
    steps:
      - repeat:
          times: 3
          steps:
            - mempool_alloc: {{pool: bios, gfp: GFP_NOIO, as: bio}}
            - enqueue: {{queue: end_io, handle: bio}}
  worker:
    count: 2
    daemon: true
    steps:
      - repeat:
          forever: true
          steps:
            - dequeue: {{queue: end_io, as: done}}
{work}
            - mempool_free: done
"""


@pytest.mark.parametrize(
    ("work", "expected"),
    [
        ("", set()),
        # a worker that needs a second bio of the same set before it completes the first:
        # both workers can each hold one with none left for either
        (
            "            - mempool_alloc: {pool: bios, gfp: GFP_NOIO, as: more}\n"
            "            - mempool_free: more\n",
            {"deadlock"},
        ),
    ],
)
def test_a_worker_pool_is_symmetric_and_keeps_the_outcomes(work: str, expected: set[str]) -> None:
    text = POOL.format(work=work)
    reduced = KernelModel(load_text(text, "t.yaml"))
    full = KernelModel(load_text(text, "t.yaml"), reduce=False)
    assert reduced.symmetric and reduced.groups == ((1, 2),)
    got, all_states = explore(reduced), explore(full)
    assert set(got.outcomes) == set(all_states.outcomes) == expected
    assert got.states < all_states.states


def test_two_workers_drain_in_either_order() -> None:
    m = load(POOL.format(work=""))
    s = m.initial()
    while m.task_view(s, 0).pc < 2:  # sub allocates and enqueues its first bio
        s = step(m, s, 0)
    # either worker may take it: both have the move
    assert 1 in {a for (a, _), _, _ in m.successors(s)} and 2 in {
        a for (a, _), _, _ in m.successors(s)
    }
    a, b = step(m, s, 1), step(m, s, 2)
    assert m.task_view(a, 1).elements == (1,) and m.task_view(b, 2).elements == (1,)


# --- partial order ----------------------------------------------------------------------


def test_a_private_queue_is_local_and_a_shared_one_is_not() -> None:
    private = KernelModel(
        load_text("queues: {Q: {}}\ntasks: {t: {steps: [{enqueue: {queue: Q}}]}}", "t.yaml")
    )
    assert private.partial_order is not None and 0 in private.partial_order.local_pcs[0]
    shared = KernelModel(load_text(EMPTY, "t.yaml"))
    assert shared.partial_order is None or not any(shared.partial_order.local_pcs)


# --- the loader -------------------------------------------------------------------------


def test_the_loader_names_each_mistake() -> None:
    assert problems(
        """
queues: {bioq: {capacity: 0}}
locks: {L: mutex}
counters: {N: 0}
tasks:
  t:
    steps:
      - enqueue: {queue: bio_q}
      - dequeue: {queue: L}
      - enqueue: {queue: N}
      - dequeue: {queue: bioq, nowait: true}
      - dequeue: {queue: bioq, on_fail: retry}
"""
    ) == [
        "'capacity' must be at least 1, got 0",
        "unknown queue 'bio_q' (did you mean 'bioq'?)",
        "'L' is a mutex, not a queue",
        "'N' is a counter, not a queue",
        "dequeue with 'nowait: true' without 'on_fail': say what happens when the queue is "
        "empty, e.g. 'dequeue: {queue: bioq, nowait: true, on_fail: [...] | retry | unwind}'",
        "'on_fail' on a dequeue that sleeps until the queue has an item: it never fails; add "
        "'nowait: true' or drop 'on_fail'",
    ]
    assert problems("tasks: {t: {steps: [{enqueue: {queue: Q}}]}}") == [
        "unknown queue 'Q' (no queues are declared)"
    ]
