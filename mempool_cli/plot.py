"""``mpsim sweep --plot``: the sweep as a picture; the only module that imports matplotlib.

Two parameters make a heatmap per kernel (the first parameter across, the
second up), one parameter a strip per kernel; each cell is coloured by
its outcome set and carries its short code (``ok``, ``DL``, ``LL+KL``); a
search cut short is grey and hatched, ``..`` after what it found, never
the colour of ok. The same sweep gives the same bytes: the SVG keeps its
text as text (the panel titles can be searched), with no date and fixed
ids.

matplotlib is an optional extra (``pip install 'mpsim[plot]'``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from mempool_cli.errors import EnvironmentProblem, UsageError

__all__ = ["FORMATS", "MISSING", "check", "sweep_plot"]

FORMATS = ("svg", "png")
MISSING = "mpsim: --plot needs matplotlib, an optional extra: pip install 'mpsim[plot]'"

_OK = "#4daf4a"
_CUT = "#d9d9d9"
# Outcome sets other than ok, in the order they first appear in the sweep.
_PALETTE = ("#e41a1c", "#377eb8", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999")
_PANELS_PER_ROW = 4


def check(path: str, dimensions: int) -> str:
    """The format ``path`` asks for; refused before any search (no matplotlib, a format
    other than svg or png, more than two parameters)."""
    fmt = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if fmt not in FORMATS:
        raise UsageError(f"mpsim sweep: --plot {path}: the file must end in .svg or .png")
    if dimensions > 2:
        raise UsageError(
            f"mpsim sweep: --plot draws one or two parameters, not {dimensions}; "
            "leave --plot out, or sweep fewer"
        )
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise EnvironmentProblem(MISSING) from None
    return fmt


def sweep_plot(
    fmt: str,
    title: str,
    keys: Sequence[str],
    axes: Sequence[Sequence[object]],
    columns: Sequence[str],
    cells: Mapping[tuple[object, ...], Sequence[tuple[str, str, str]]],
) -> bytes:
    """The picture as bytes: one panel per kernel column.

    ``axes`` holds the values of each parameter (one or two); ``cells`` maps
    each point's values to its (code, status, words) per column, status one
    of ``ok``, ``found``, ``incomplete``; the legend gives each code its words.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    xs = list(axes[0])
    ys = list(axes[1]) if len(axes) > 1 else [None]
    colours: dict[str, str] = {}
    words: dict[str, str] = {}
    for point in cells.values():
        for code, status, text in point:
            if status == "found" and code not in colours:
                colours[code] = _PALETTE[len(colours) % len(_PALETTE)]
                words[code] = text
    n = len(columns)
    per_row = min(n, _PANELS_PER_ROW)
    rows = -(-n // per_row)
    cell_in = 0.42
    width = max(per_row * (len(xs) * cell_in + 1.0), 4.0)
    height = rows * (len(ys) * cell_in + 1.2) + 0.9
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "mpsim", "font.size": 8}):
        fig, grid = plt.subplots(rows, per_row, figsize=(width, height), squeeze=False)
        for index, panel in enumerate(grid.flat):
            if index >= n:
                panel.set_axis_off()
                continue
            panel.set_title(columns[index])
            for i, x in enumerate(xs):
                for j, y in enumerate(ys):
                    at = (x, y) if len(axes) > 1 else (x,)
                    code, status, _ = cells[at][index]
                    face = _OK if status == "ok" else colours.get(code, _CUT)
                    if status == "incomplete":
                        face = _CUT
                    panel.add_patch(
                        Rectangle(
                            (i, j),
                            1,
                            1,
                            facecolor=face,
                            edgecolor="white",
                            hatch="//" if status == "incomplete" else None,
                        )
                    )
                    panel.text(i + 0.5, j + 0.5, code, ha="center", va="center", fontsize=6)
            panel.set_xlim(0, len(xs))
            panel.set_ylim(0, len(ys))
            panel.set_xticks([i + 0.5 for i in range(len(xs))], [str(x) for x in xs])
            panel.set_xlabel(keys[0])
            if len(axes) > 1:
                panel.set_yticks([j + 0.5 for j in range(len(ys))], [str(y) for y in ys])
                panel.set_ylabel(keys[1])
            else:
                panel.set_yticks([])
            panel.tick_params(labelsize=6)
            panel.set_aspect("equal")
        handles: list[Any] = [Patch(facecolor=_OK, label="ok")]
        handles += [
            Patch(facecolor=c, label=f"{code} {words[code]}") for code, c in colours.items()
        ]
        if any(s == "incomplete" for point in cells.values() for _, s, _ in point):
            handles.append(Patch(facecolor=_CUT, hatch="//", label="cut short (not ok)"))
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
        fig.suptitle(title)
        fig.tight_layout(rect=(0, 0.06, 1, 0.97))
        out = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(out, format=fmt, metadata=metadata, dpi=110)
        plt.close(fig)
    return out.getvalue()
