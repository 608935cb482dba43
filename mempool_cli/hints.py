"""What would break a hang: hints read off the hang state and the kernel's knobs, each checked.

A hint never guesses from names. Where it claims that another knob would
let a task through, it builds the model under that knob and searches it
(``explore.shortest_path`` restricted to the task's own moves).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mempool_cli.explore import explore, shortest_path
from mempool_cli.kernel.model import Action, KernelModel, State, actor_of
from mempool_cli.scenario import gfp as G
from mempool_cli.scenario.kernels import PRESETS
from mempool_cli.scenario.spec import Step

__all__ = ["hang_hints"]


def hang_hints(
    model: KernelModel, s: State, graph: Any, cycle: tuple[str, ...], involved: tuple[str, ...]
) -> tuple[str, ...]:
    """What would break this hang, where the state shows it; few, and each one checked.

    Each hint is read off facts of the hang state and the kernel's knobs,
    never off names: a victim in ``mempool_alloc`` that would finish the
    call if mempool did not force __GFP_NOMEMALLOC (tried on the same
    state under the other knob), a victim the OOM reaper cannot or does not
    free, a zero-min pool, and a pool waiter holding a lock that an element
    holder waits for (the ABBA Weiner names [1.7]).
    """
    out: list[str] = []
    names = model.task_names()
    kernel = model.kernel
    for name in involved:
        t = names.index(name)
        view = model.task_view(s, t)
        wait = view.wait
        if (
            wait is not None
            and wait.call == "mempool_alloc"
            and kernel.mempool_nomemalloc == "always"
        ):
            # Run the call again from its start, as is and without the forced flag.
            restart = model.restart_step(s, t)
            alt = _knob(model, "mempool_nomemalloc", "if_pool_nonempty")
            if not _finishes_step(model, restart, t) and _finishes_step(alt, restart, t):
                out.append(
                    f"{name} could use the reserves if mempool_alloc did not force "
                    f"__GFP_NOMEMALLOC {_suggest(model, 'mempool_nomemalloc', 'if_pool_nonempty')}"
                )
        if view.victim and not (view.oom_skip or view.exited):
            if not model.info[t].mm_reapable:
                text = f"the OOM reaper cannot free {name}'s memory (mm_reapable: false)"
                if model.reaper_mode == "reap" and view.reaped:
                    text += (
                        " and gives up without setting MMF_OOM_SKIP, so the OOM killer waits "
                        f"for {name} for ever "
                        + _suggest(model, "oom_reaper", "reap_or_skip", " marks it anyway")
                    )
                elif model.reaper_mode == "none":
                    text += (
                        ", and this kernel has no reaper to mark it MMF_OOM_SKIP so that the "
                        "OOM killer could pick another victim "
                        + _suggest(model, "oom_reaper", "reap_or_skip")
                    )
                out.append(text)
            elif model.reaper_mode == "none" and view.rss:
                out.append(
                    f"no OOM reaper frees {name}'s {view.rss} pages while it lives "
                    + _suggest(model, "oom_reaper", "reap")
                )
        if (
            wait is not None
            and wait.call == "alloc_pages"
            and wait.gfp is not None
            and model.scenario.oom.killer
            and not view.victim
            and not wait.gfp & G.FS
            and not wait.gfp & G.NOFAIL
        ):
            out.append(
                f"{name}'s allocation ({G.format_gfp(wait.gfp)}) has no __GFP_FS, so it "
                "never invokes the OOM killer to free memory for it [3.7][5.1]"
            )
    for node in sorted(graph.nodes):
        data = graph.nodes[node]
        if (
            data["type"] == "pool"
            and data["min_nr"] == 0
            and kernel.zero_min_pool == "poll"
            and graph.in_degree(node)
        ):
            out.append(
                f"pool {data['label']} has min_nr 0: it keeps no element, so waiting on it "
                "guarantees nothing [1.5] "
                + _suggest(model, "zero_min_pool", "one_element", " keeps one")
            )
    out.extend(_abba_hints(graph, cycle))
    out.extend(_irq_hints(model, graph, cycle))
    return tuple(out)


# The step that keeps a handler of a level off the CPU while a spinlock is held, and its
# unlock (revision 2, kernel-facts 9.5).
_IRQ_SAFE = {
    "irq": ("spin_lock_irqsave", "spin_unlock_irqrestore"),
    "softirq": ("spin_lock_bh", "spin_unlock_bh"),
}


def _irq_hints(model: KernelModel, graph: Any, cycle: tuple[str, ...]) -> list[str]:
    """A handler spinning on a spinlock that the task it interrupts holds with that level on.

    Checked on the model: the same scenario with the holder's plain ``spin_lock`` /
    ``spin_unlock`` of that lock turned into ``spin_lock_irqsave`` /
    ``spin_unlock_irqrestore`` (``_bh`` for a softirq handler) is searched, and the hint
    is given only when no deadlock is left there.
    """
    out = []
    n = len(cycle)
    for i in range(n):
        handler, lock, holder = (cycle[(i + j) % n] for j in range(3))
        hdata = graph.nodes[handler]
        if not (
            n >= 3
            and hdata.get("cpu_of") == graph.nodes[holder].get("label")
            and graph.nodes[lock]["type"] == "spinlock"
            and graph.edges[lock, holder].get("irqs_on")
        ):
            continue
        level = hdata["level"]
        take, drop = _IRQ_SAFE[level]
        host = model.task_names().index(graph.nodes[holder]["label"])
        name = graph.nodes[lock]["label"]
        fixed = _irq_safe(model, model.scenario.tasks[host].name, name, take, drop)
        if fixed is not None and "deadlock" not in fixed:
            what = "a hard irq" if level == "irq" else "a softirq"
            out.append(
                f"{hdata['label']} ({what} on {graph.nodes[holder]['label']}'s CPU) takes "
                f"{name}, which {graph.nodes[holder]['label']} holds with that level on: "
                f"{take}({name}) / {drop}({name}) in {graph.nodes[holder]['label']} "
                "would keep it off the CPU while the lock is held (checked: no deadlock "
                "left) [9.5]"
            )
    return out


def _irq_safe(
    model: KernelModel, task: str, lock: str, take: str, drop: str, limit: int = 20_000
) -> set[str] | None:
    """The outcomes of the scenario with ``task``'s plain spin_lock / spin_unlock of
    ``lock`` made ``take`` / ``drop``, or None when the search does not finish in ``limit``
    states."""
    ops = {"spin_lock": take, "spin_unlock": drop}

    def rewrite(node: Any) -> Any:
        if isinstance(node, Step):
            return (
                replace(node, op=ops[node.op]) if node.op in ops and node.target == lock else node
            )
        fields = {
            f: tuple(rewrite(x) for x in getattr(node, f)) for f in _BODIES if hasattr(node, f)
        }
        return replace(node, **fields) if fields else node

    sc = model.scenario
    tasks = tuple(
        replace(t, steps=tuple(rewrite(x) for x in t.steps)) if t.name == task else t
        for t in sc.tasks
    )
    result = explore(KernelModel(replace(sc, tasks=tasks), model.kernel), max_states=limit)
    return set(result.outcomes) if result.complete else None


_BODIES = ("body", "then", "orelse")


def _abba_hints(graph: Any, cycle: tuple[str, ...]) -> list[str]:
    """A task sleeping on a pool while it holds a lock that an element holder waits for."""
    if not cycle:
        return []
    n = len(cycle)
    out = []
    for i in range(n):
        waiter, pool, holder, lock = (cycle[(i + j) % n] for j in range(4))
        if n >= 4 and (
            graph.nodes[pool]["type"] == "pool"
            and graph.nodes[lock]["type"] in ("mutex", "spinlock")
            and graph.edges[holder, lock]["type"] == "waits_for"
            and graph.has_edge(lock, waiter)
        ):
            w, p, h, lk = (graph.nodes[n]["label"] for n in (waiter, pool, holder, lock))
            out.append(
                f"{w} waits on pool {p} while holding {lk}, which {h} needs before it can "
                f"return its {p} element: an ABBA between a lock and a pool; do not hold "
                f"{lk} across mempool_alloc({p}) [1.7]"
            )
    return out


def _knob(model: KernelModel, knob: str, value: str) -> KernelModel:
    """The same scenario under ``knob: value``, unreduced, as the hang state's model is."""
    return KernelModel(model.scenario, model.kernel.with_knobs(**{knob: value}), reduce=False)


def _finishes_step(model: KernelModel, s: State, t: int, limit: int = 64) -> bool:
    """Whether task ``t`` alone, from ``s``, can finish its current step (``limit`` states).

    ``s`` stands at the start of the step, so a move back to it finishes nothing.
    """

    def done(_action: Action, nxt: State) -> bool:
        return nxt != s and not model.halted(nxt) and model.task_view(nxt, t).at_boundary

    return shortest_path(model, s, done, limit, allowed=lambda a: actor_of(a) == t) is not None


def _suggest(model: KernelModel, knob: str, value: str, note: str = "") -> str:
    """``(knob: value; try --kernel P)``, P the first preset with it, unless the file pins the knob.

    A file's own knobs survive ``--kernel`` (docs/model.md), so for a
    pinned knob the hint points at the file instead.
    """
    setting = f"{knob}: {value}{note}"
    if knob == "oom_reaper" and model.scenario.oom.reaper is not None:
        return f"(oom.reaper: {value}{note}; set in the file)"
    if knob in dict(model.scenario.kernel_knobs):
        return f"({setting}; set in the file's kernel)"
    for name, preset in PRESETS.items():
        if preset.knobs()[knob] == value and name != model.kernel.name:
            return f"({setting}; try --kernel {name})"
    return f"({setting})"
