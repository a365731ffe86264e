"""One row of the suite's table, and the table as text or Markdown."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Figure:
    """What one check reached against its goal."""

    test: str
    figure: str
    goal: str
    passed: bool
    seconds: float = 0.0
    number: int = 0  # the row's number in the suite (1–15)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "FAIL"


HEAD = ("#", "test", "figure reached", "goal", "result", "s")


def _cells(i: int, f: Figure) -> tuple[str, ...]:
    return (str(f.number or i), f.test, f.figure, f.goal, f.verdict, f"{f.seconds:.0f}")


def text_table(figures: list[Figure]) -> str:
    """A plain-text table with aligned columns."""
    rows = [HEAD, *(_cells(i, f) for i, f in enumerate(figures, 1))]
    widths = [max(len(r[c]) for r in rows) for c in range(len(HEAD))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(figures: list[Figure]) -> str:
    """The same table in Markdown (pipes in cells escaped)."""

    def row(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = [row(HEAD), "|" + "---|" * len(HEAD)]
    lines += [row(_cells(i, f)) for i, f in enumerate(figures, 1)]
    return "\n".join(lines)
