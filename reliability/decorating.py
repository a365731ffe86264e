"""Row 15: pixel latency while the worst template under the size limit is decorated.

Three clients post the worst template under the 512 KiB limit for CPython's HTML parser
(``"<a "`` repeated, no ``>``: quadratic, about an hour of parsing) to ``POST /api/v1/decorate``
again and again; each call is refused once it has used its CPU budget
(``TRACKER_DECORATE_SECONDS=2``). Meanwhile one client fetches pixels on one keep-alive
connection every 10 ms (after 20 to warm up) and times each answer. The clients are
threads on blocking sockets (they hold no lock while they wait), so a slow answer is
the server's.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from pathlib import Path

from reliability.figures import Figure
from reliability.harness import API_KEY, HOST, PERSON, TOKENS, start
from tracker.routes.decorate_api import MAX_HTML
from tracker.tokens import Message

BUDGET = 2
WORST = "<a " * (MAX_HTML // 3)
CLIENTS = 3
WARM_UP = 20
GOAL_MS = 50.0


def _decorate(port: int) -> int:
    """The status of one decorate call of the worst template."""
    body = {"delivery": "d-worst", "campaign": "c", "email": "e", "recipient": "r",
            "html": WORST}  # fmt: skip
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    try:
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        conn.request("POST", "/api/v1/decorate", json.dumps(body), headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _pixels(port: int, stop: threading.Event, times: list[float], errors: Counter[str]) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    n = 0
    while not stop.is_set():
        token = TOKENS.open_token(Message("d-pixel", f"p{n}", "c", "e"))
        started = time.perf_counter()
        try:
            conn.request("GET", f"/o/{token}.gif", headers=PERSON)
            resp = conn.getresponse()
            resp.read()
        except OSError as exc:
            errors[type(exc).__name__] += 1
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=60)
            continue
        if n >= WARM_UP:
            times.append(time.perf_counter() - started)
        if resp.status != 200:
            errors[f"pixel {resp.status}"] += 1
        n += 1
        time.sleep(0.01)
    conn.close()


def pixels_during_decorate(work: Path, seconds: float) -> Figure:
    server = start(work, "decorate", TRACKER_DECORATE_SECONDS=str(BUDGET))
    stop = threading.Event()
    times: list[float] = []
    errors: Counter[str] = Counter()
    answers: Counter[int] = Counter()

    def client() -> None:
        while not stop.is_set():
            try:
                status = _decorate(server.port)
            except OSError as exc:
                status = 0
                if not stop.is_set():
                    errors[f"decorate {type(exc).__name__}"] += 1
            if not stop.is_set():  # what comes after the stop is the server stopping
                answers[status] += 1

    clients = [threading.Thread(target=client) for _ in range(CLIENTS)]
    pixels = threading.Thread(target=_pixels, args=(server.port, stop, times, errors))
    for thread in clients:
        thread.start()
    pixels.start()
    time.sleep(seconds)
    stop.set()
    pixels.join()
    server.stop()  # the calls still in the pool are answered 503 at once
    for thread in clients:
        thread.join()

    ordered = sorted(times) or [0.0]
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    worst = ordered[-1] * 1000
    decorated = ", ".join(f"{k}: {v}" for k, v in sorted(answers.items()))
    problems = ", ".join(f"{k}: {v}" for k, v in errors.items()) or "none"
    return Figure(
        "pixel latency during pathological decorates",
        f"{len(times)} pixels in {seconds:g} s while {CLIENTS} clients decorated the worst "
        f"512 KiB template (answers {decorated}; budget {BUDGET} s of CPU); pixel p50 "
        f"{p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {worst:.1f} ms; problems: {problems}",
        f"pixel max < {GOAL_MS:g} ms; every decorate answered 422, none 5xx",
        worst < GOAL_MS and not errors and set(answers) == {422},
    )
