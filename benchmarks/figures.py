"""One line per figure, the same for every benchmark.

Each line reads ``name  ours  baseline  ratio  goal  met`` so that a reader sees the state
at a glance; ``spread`` is the (min..max) of the runs the median came from.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

HEADER = f"{'figure':44s} {'ours':>12s} {'baseline':>12s} {'ratio':>6s} {'goal':>11s}  met"


def median(values: Sequence[float]) -> float:
    """The median of several runs (the machines are shared and noisy)."""
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """``min..max`` of the runs, for the closing note."""
    return f"{min(values):.3g}..{max(values):.3g}"


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"


def figure(
    name: str,
    ours: float,
    baseline: float | None,
    goal: float | None,
    *,
    higher_is_better: bool = True,
    unit: str = "",
) -> str:
    """Print and return one figure's line.

    With a baseline the goal is on the ratio ``ours / baseline``; without one it is on
    ``ours`` itself (for example a peak RSS in MB, where lower is better).
    """
    value = ours / baseline if baseline else ours
    if goal is None:
        met = "-"
    elif higher_is_better:
        met = "yes" if value >= goal else "NO"
    else:
        met = "yes" if value <= goal else "NO"
    sign = ">=" if higher_is_better else "<="
    goal_text = f"{sign}{_num(goal)}" if goal is not None else "-"
    base_text = f"{_num(baseline)}{unit}" if baseline else "-"
    ratio_text = f"{value:.2f}" if baseline else "-"
    ours_text = f"{_num(ours)}{unit}"
    line = f"{name:44s} {ours_text:>12s} {base_text:>12s} {ratio_text:>6s} {goal_text:>11s}  {met}"
    print(line, flush=True)
    return line
