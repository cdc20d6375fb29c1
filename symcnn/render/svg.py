"""The charts as SVG through matplotlib (the ``plot`` extra), for Markdown and notebooks:
the same :class:`~symcnn.render.charts.Charts` the pgfplots partial lays out.  Without
matplotlib, :func:`chart_images` gives the command that installs it, which the Markdown
template says in one line.

Each chart's parts carry an SVG ``id`` (``memory-curve``, ``budget-1``, ``largest-1``,
``bar-1``, ...) and text stays text, so a test or a stylesheet can find them; the files are
the same bytes for the same report (no date, fixed ids).
"""

from __future__ import annotations

import base64
import io
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from symcnn.render.charts import Charts, Shares
from symcnn.render.latex import TeX

#: What installs the charts' drawing (the Markdown template says it when matplotlib is missing).
PLOT_INSTALL = "pip install symcnn[plot]"
#: The charts, in order: file-name suffix and what the chart shows (its alt text).
CHARTS = (("memory", "Training memory against batch size"),
          ("params", "Share of the parameters per layer"),
          ("activations", "Share of the activation memory per layer"))
_COLORS = ("#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
           "#17becf")


@dataclass(frozen=True)
class ChartImages:
    """What the Markdown shows for the charts: ``images`` (alt text, source: a file name or
    a ``data:`` URI); else the template says in one line why not: ``needs`` the symbols
    without a value, or ``install`` the command that installs matplotlib."""

    charts: Charts
    images: tuple[tuple[str, TeX], ...] = ()
    needs: tuple[str, ...] = ()
    install: str = ""


def _matplotlib():
    """matplotlib's Figure class, or None when the ``plot`` extra is not installed."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        return None, None
    return matplotlib, Figure


def _plain(text: str) -> str:
    """A name as matplotlib's literal text: a ``$`` would start its math; white space is a
    space and a control or format character is left out, as in the LaTeX (an escape or a
    backspace in a layer's name made the SVG file ill-formed XML)."""
    return "".join(" " if c.isspace() else "" if unicodedata.category(c)[0] == "C" else c
                   for c in text).replace("$", r"\$")


def _memory_chart(fig, charts: Charts) -> None:
    ax = fig.subplots()
    xs = [b for b, _ in charts.points]
    ys = [float(y) for _, y in charts.points]
    label = f"${charts.memory_legend}$" + (", the peak of the step" if charts.simulated else "")
    ax.plot(xs, ys, color="black", linewidth=2, label=label, gid="memory-curve")
    for i, budget in enumerate(charts.budgets, start=1):
        color = _COLORS[(i - 1) % len(_COLORS)]
        label = f"{_plain(budget.name)}: " + (f"$b_{{\\max}} = {budget.largest:,}$" if budget.largest
                                      else "does not fit")
        ax.plot([0, charts.xmax], [float(charts.y(budget.bytes))] * 2, linestyle="--",
                color=color, label=label, gid=f"budget-{i}")
        if budget.largest:
            ax.plot([budget.largest], [float(charts.y(budget.memory_at_largest))], "o",
                    color=color, gid=f"largest-{i}")
    ax.set_xlim(0, charts.xmax)
    ax.set_ylim(0, float(charts.ymax))
    ax.set_xlabel("batch size $b$")
    ax.set_ylabel(f"training memory ${charts.letters[0]}(b)$ in {charts.unit}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize="small")
    ax.grid(alpha=0.3)


def _share_chart(fig, bars: Shares, what: str, total: str) -> None:
    ax = fig.subplots()
    ys = range(len(bars))
    drawn = ax.barh(list(ys), [float(b.percent) for b in bars], color="#4c72b0", height=0.6)
    for i, (rect, bar) in enumerate(zip(drawn, bars), start=1):
        rect.set_gid(f"bar-{i}")
        ax.annotate(f"{bar.percent_text} %", (rect.get_width(), rect.get_y() + 0.3),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize="small")
    ax.set_yticks(list(ys), [_plain(b.label) for b in bars])
    ax.invert_yaxis()
    ax.set_xlim(0, float(bars.xmax))
    ax.set_xlabel(f"share of the {what} in % ({total})")


def draw_svgs(charts: Charts) -> dict[str, bytes] | None:
    """The three charts as SVG (``memory``, ``params``, ``activations``; a share chart with
    nothing to share is left out); None without matplotlib."""
    matplotlib, Figure = _matplotlib()
    if Figure is None:
        return None
    figures = {"memory": Figure(figsize=(7.5, 3.6), layout="constrained")}
    shares = {"params": ("parameters", f"{charts.params.total:,} in all"),
              "activations": ("stored activations", f"{charts.activations.total:,} B per sample")}
    svgs = {}
    rc = {"svg.fonttype": "none", "svg.hashsalt": "symcnn", "font.size": 10}
    with matplotlib.rc_context(rc):
        _memory_chart(figures["memory"], charts)
        for name, (what, total) in shares.items():
            bars = getattr(charts, name)
            if bars:  # a network without parameters has no chart of them
                figures[name] = Figure(figsize=(7.5, 1.2 + 0.32 * len(bars)), layout="constrained")
                _share_chart(figures[name], bars, what, total)
        for name, fig in figures.items():
            buf = io.BytesIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
            svgs[name] = buf.getvalue()
    return svgs


def chart_images(charts: Charts, stem: str | None = None) -> tuple[ChartImages, dict[str, bytes]]:
    """The charts for a Markdown document: with ``stem``, as files ``<stem>-memory.svg``, ...
    beside it (returned as ``{file name: bytes}`` for the caller to write); without, inline
    as ``data:`` URIs (a notebook).  For a network with symbols, or without matplotlib, a
    one-line note and no files."""
    if not charts.drawn:
        return ChartImages(charts, needs=charts.needs), {}
    svgs = draw_svgs(charts)
    if svgs is None:
        return ChartImages(charts, install=PLOT_INSTALL), {}
    images, files = [], {}
    for name, alt in CHARTS:
        if name not in svgs:
            continue
        if stem is None:
            src = "data:image/svg+xml;base64," + base64.b64encode(svgs[name]).decode("ascii")
        else:
            files[f"{stem}-{name}.svg"] = svgs[name]
            src = quote(f"{stem}-{name}.svg")
        images.append((alt, TeX(src)))
    return ChartImages(charts, tuple(images)), files
