"""The labelled bounce corpus (tests/data/bounces): each message parsed and judged,
scored against its labels. ``python -m tests.bounce_corpus`` prints the table."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tracker.bounces.classify import classify
from tracker.bounces.parse import Report, parse

CORPUS = Path(__file__).parent / "data" / "bounces"
DECISIONS = ("invalid", "spam_block", "soft", "complaint", "not_a_bounce")


@dataclass(frozen=True)
class Score:
    """What the corpus says of the parser and the classifier together."""

    rows: int
    addressed: int
    found: int
    right: int
    confusion: Counter[tuple[str, str]]

    def precision(self, decision: str) -> float:
        said = sum(n for (_, got), n in self.confusion.items() if got == decision)
        return self.confusion[(decision, decision)] / said if said else 1.0

    def recall(self, decision: str) -> float:
        truth = sum(n for (want, _), n in self.confusion.items() if want == decision)
        return self.confusion[(decision, decision)] / truth if truth else 1.0

    def table(self) -> str:
        lines = [
            "| labelled \\ judged | " + " | ".join(DECISIONS) + " | recall |",
            "|---" * (len(DECISIONS) + 2) + "|",
        ]
        for want in DECISIONS:
            cells = [str(self.confusion[(want, got)]) for got in DECISIONS]
            lines.append(f"| {want} | " + " | ".join(cells) + f" | {self.recall(want):.3f} |")
        precisions = [f"{self.precision(d):.3f}" for d in DECISIONS]
        lines.append("| precision | " + " | ".join(precisions) + " | |")
        return "\n".join(lines)

    def summary(self) -> str:
        return (
            f"{self.rows} recipients: address found {self.found}/{self.addressed} "
            f"({self.found / self.addressed:.1%}), decision right {self.right}/{self.rows} "
            f"({self.right / self.rows:.1%}), invalid precision {self.precision('invalid'):.3f}"
        )


def decide(report: Report, address: str, index: int) -> str:
    """The decision tracker makes for one labelled recipient of a message."""
    if report.kind == "arf":
        return "complaint" if report.feedback_type == "abuse" else "not_a_bounce"
    failures = report.failures
    chosen = next((f for f in failures if address and f.address == address), None)
    if chosen is None and index < len(failures) and not address:
        chosen = failures[index]
    if chosen is None:
        return "not_a_bounce"
    return classify(chosen.status, chosen.reply).category or "soft"


def score() -> Score:
    reports: dict[str, Report] = {}
    confusion: Counter[tuple[str, str]] = Counter()
    rows = addressed = found = right = 0
    with (CORPUS / "labels.csv").open(newline="") as labels:
        for row in csv.DictReader(labels):
            name = row["file"]
            if name not in reports:
                reports[name] = parse((CORPUS / "messages" / name).read_bytes())
            report = reports[name]
            address, want = row["address"], row["decision"]
            got = decide(report, address, int(row["index"]))
            rows += 1
            right += got == want
            confusion[(want, got)] += 1
            if address:
                addressed += 1
                found += any(f.address == address for f in report.failures)
    return Score(rows, addressed, found, right, confusion)


if __name__ == "__main__":
    result = score()
    print(result.table())
    print(result.summary())
