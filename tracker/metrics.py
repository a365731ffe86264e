"""Prometheus metrics: hits by route and outcome, the writer's queue, groups and commits."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)


class HitCounts:
    """Hits by (route, outcome): a plain dict on the hot path, read at scrape time.

    A prometheus_client labelled counter costs microseconds per increment (label lookup,
    a lock); a dict increment costs a tenth of that, and the event loop is single-threaded.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def count(self, route: str, outcome: str) -> None:
        key = (route, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "tracker_hits",
            "Requests to tracking routes, by route and outcome.",
            labels=["route", "outcome"],
        )
        for (route, outcome), n in sorted(self.counts.items()):
            family.add_metric([route, outcome], n)
        yield family


HITS = HitCounts()
REGISTRY.register(HITS)
QUEUE_DEPTH = Gauge(
    "tracker_writer_queue_depth", "Units of work waiting for a commit.", registry=REGISTRY
)
GROUP_SIZE = Histogram(
    "tracker_commit_group_size",
    "Units of work committed together in one transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
    registry=REGISTRY,
)
COMMIT_SECONDS = Histogram(
    "tracker_commit_seconds",
    "Time to commit one group, in seconds.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
COMMIT_ERRORS = Counter("tracker_commit_errors", "Groups whose commit failed.", registry=REGISTRY)
STORE_ERRORS = Counter(
    "tracker_store_errors",
    "Failed attempts to commit a group (retried, then failed), by kind.",
    ["kind"],
    registry=REGISTRY,
)

HOOK_EVENTS = Counter(
    "tracker_hook_events",
    "Provider webhook events by provider and outcome (stored, duplicate, ignored: a type"
    " tracker does not log, unmatched: no message found, invalid).",
    ["provider", "outcome"],
    registry=REGISTRY,
)
HOOK_REFUSED = Counter(
    "tracker_hook_refused",
    "Provider webhook requests refused, by provider and reason (bad_signature, stale, …).",
    ["provider", "reason"],
    registry=REGISTRY,
)


def error_kind(exc: BaseException) -> str:
    """A short label for a database error: locked, io, full or other."""
    text = str(exc).lower()
    for needle, kind in (("locked", "locked"), ("busy", "locked"), ("i/o", "io"),
                         ("full", "full")):  # fmt: skip
        if needle in text:
            return kind
    return "other"


CONTENT_TYPE = CONTENT_TYPE_LATEST


def render() -> bytes:
    """The current metrics in Prometheus text format."""
    return generate_latest(REGISTRY)
