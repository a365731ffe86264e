"""HTTP load benchmark: tracker against a bare aiohttp app and nginx, in one run.

Each server is pinned to core 0 and ``wrk`` to core 1 (where there are two cores). The
load cycles through thousands of distinct tokens (many recipients and links). Targets are
interleaved round by round, because shared machines drift; the medians are printed with
the ratios tracker/bare and tracker/nginx.

    python -m bench.http [--rounds 3] [--seconds 3] [--connections 1,16,64,256]
                         [--workload distinct,hot,scanner]

Workloads: ``distinct`` (``/o/``, ``/c/``: 20,000 recipients, one token each),
``hot`` (``/c/ hot``: one recipient's click token, pasted where thousands click it) and
``scanner`` (``/c/ scan``: 5 recipients x 200 links, every link of each message followed
in turn, as a security scanner does). Each row's ``t/dist`` is tracker's throughput on it
over tracker's on distinct clicks at the same connections.

Targets: ``tracker`` (durable: answers after commit), ``tracker-1`` (the same server
committing each hit alone: TRACKER_MAX_GROUP=1), ``bare`` (bench/bare.py), ``nginx``
(``empty_gif`` / ``return 302``) and ``tracker-w2`` (``--workers 2``, unpinned, sharing
both cores with wrk). On PostgreSQL: ``pg`` (one worker) and ``pg-w2`` (``--workers
2``, unpinned), each round on a fresh schema of ``--postgres URL`` or, without it, of a
server started from the system's PostgreSQL for the run (tests/pgserver.py).

    python -m bench.http --targets tracker,tracker-w2,pg,pg-w2,bare

``consent`` is ``tracker`` with ``TRACKER_CONSENT=opt_in``: every hit reads its
person's consent state in the writer's transaction. With it, both its store and
``tracker``'s hold ``--consent-states N`` people's states and their events (default
1,000,000; the bench's recipients granted, so both store the same rows), written before
the first round: the two differ only in the check.

    python -m bench.http --targets tracker,consent --consent-states 1000000

After the table, each speed aim's figure from the run, its ratio and whether it is met
(a shape over distinct recipients, tracker over bare aiohttp and nginx at 64
connections, one connection's req/s, p50 and p99); ``--ingest N`` adds events ingested
per second (bench.ingest's load, N batches of 1,000 a round, on a fresh tracker):

    python -m bench.http --targets tracker,bare,nginx --connections 1,16,64 \
        --workload distinct,hot,scanner --ingest 50

``--before PYTHON`` adds the target ``before``: the same server run by another
checkout's interpreter (its ``.venv/bin/python``), so a change is measured against the
code before it in the same run; ``t/bef`` is tracker over it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tracker.tokens import Click, Message, Tokens

SECRET = "bench-secret-key-at-least-32-characters"
API_KEY = "bench-api-key-at-least-32-characters"
ROUTES = ("o", "c")
# The rows of each workload: the route a path file is for, by its name.
WORKLOADS = {"distinct": ("o", "c"), "hot": ("c hot",), "scanner": ("c scan",)}
SCANNED = (5, 200)  # recipients, links per message
# Distinct recipients (one token each) per route. In a real send one person clicks
# rarely; with a few thousand, every person of the bench would click several times a
# second and each verdict would read a crowd of neighbouring clicks.
TOKENS_PER_ROUTE = 20_000
TARGET_URL = (
    "https://shop.example.com/collections/spring-sale/products/linen-shirt?utm_source=email"
)

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp; uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location /o/ {{ empty_gif; }}
        location /c/ {{ return 302 https://example.com/; }}
    }}
}}
"""

WRK_SCRIPT = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = math.random(#paths)
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int = 0
    cpu_us: float = float("nan")  # the server's CPU time per request (all its threads)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far, all threads (``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(core: int) -> list[str]:
    """``taskset`` prefix for ``core`` when the machine has more than one."""
    if (os.cpu_count() or 1) < 2 or not shutil.which("taskset"):
        return []
    return ["taskset", "-c", str(core)]


def _click(tokens: Tokens, recipient: int, link: int) -> str:
    message = Message(f"delivery-{recipient % 7}", f"recipient-{recipient:07d}", "spring-2026",
                      "sale-v3")  # fmt: skip
    return f"/c/{tokens.click_token(Click(message, link, f'{TARGET_URL}&l={link}'))}"


def write_paths(workdir: Path) -> dict[str, Path]:
    """Files of request paths per row: distinct recipients and links, one hot click
    token, a scanner's clicks."""
    tokens = Tokens([SECRET])
    files = {}
    hot = workdir / "paths-hot.txt"
    hot.write_text(_click(tokens, 1, 3) + "\n")
    files["c hot"] = hot
    scan = workdir / "paths-scan.txt"
    recipients, links = SCANNED
    scan.write_text(
        "".join(_click(tokens, 900_000 + r, n) + "\n" for r in range(recipients)
                for n in range(links))
    )  # fmt: skip
    files["c scan"] = scan
    for route in ROUTES:
        lines = []
        for i in range(TOKENS_PER_ROUTE):
            message = Message(f"delivery-{i % 7}", f"recipient-{i:07d}", "spring-2026", "sale-v3")
            if route == "o":
                lines.append(f"/o/{tokens.open_token(message)}.gif")
            else:
                click = Click(message, i % 12, f"{TARGET_URL}&l={i % 12}")
                lines.append(f"/c/{tokens.click_token(click)}")
        files[route] = workdir / f"paths-{route}.txt"
        files[route].write_text("\n".join(lines) + "\n")
    return files


class Server:
    """One target process, started fresh for each round, pinned to core 0."""

    def __init__(
        self, name: str, workdir: Path, database_url: str = "", python: str = sys.executable
    ) -> None:
        self.name = name
        self.python = python
        self.database_url = database_url
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb = 0.0

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        if self.name.startswith(("tracker", "pg", "before", "consent")):
            data = self.workdir / f"data-{self.name}"
            env.update(
                TRACKER_DATA_DIR=str(data),
                TRACKER_SECRET_KEYS=SECRET,
                TRACKER_API_KEYS=API_KEY,
                TRACKER_LOG_LEVEL="warning",
                TRACKER_LOG_FORMAT="json",
            )
            if self.name == "tracker-1":
                env["TRACKER_MAX_GROUP"] = "1"
            if self.name == "consent":
                env["TRACKER_CONSENT"] = "opt_in"
            if self.name.startswith("pg"):
                env["TRACKER_DATABASE_URL"] = self.database_url
            cmd = [
                self.python if self.name == "before" else sys.executable,
                "-m",
                "tracker",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ]
            if self.name.endswith("-w2"):
                return cmd + ["--workers", "2"], env  # unpinned: both cores
        elif self.name == "bare":
            cmd = [sys.executable, "-m", "bench.bare", str(self.port)]
        else:
            ndir = self.workdir / "nginx"
            (ndir / "tmp").mkdir(parents=True, exist_ok=True)
            conf = ndir / "nginx.conf"
            conf.write_text(NGINX_CONF.format(dir=ndir, port=self.port))
            cmd = ["nginx", "-c", str(conf), "-p", str(ndir)]
        return pin(0) + cmd, env

    def start(self) -> None:
        cmd, env = self.command()
        # ``-m tracker`` imports from the working directory first: the other checkout's.
        cwd = Path(self.python).parent.parent.parent if self.name == "before" else None
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        probe = "/o/x.gif"
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}{probe}", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def rss_mb(self) -> float:
        """Peak resident memory (VmHWM) of the server and its children."""
        assert self.proc is not None
        pids = [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total = 0.0
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            total += int(match.group(1)) / 1024 if match else 0
        return total

    def stop(self) -> None:
        if self.proc is None:
            return
        self.peak_rss_mb = max(self.peak_rss_mb, self.rss_mb())
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def run_wrk(port: int, script: Path, connections: int, seconds: float) -> Result:
    threads = 1 if connections < 4 else 2
    cmd = pin(1) + [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    out = done.stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk failed: {out}{done.stderr}")
    rps = float(found.group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses")
    total = re.search(r"(\d+) requests in", out)
    requests = int(total.group(1)) if total else 0
    return Result(rps, _percentile(out, "50%"), _percentile(out, "99%"), requests)


def _percentile(out: str, label: str) -> float:
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", default="1,16,64,256")
    parser.add_argument("--targets", default="tracker,bare,nginx,tracker-1,tracker-w2")
    parser.add_argument("--workload", default="distinct", help="distinct, hot, scanner")
    parser.add_argument("--before", default="", help="another checkout's python: target 'before'")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server's URL for pg*")
    parser.add_argument(
        "--consent-states", type=int, default=1_000_000, help="people's states for 'consent'"
    )
    parser.add_argument(
        "--ingest", type=int, default=0, help="batches of 1,000 events per round (0: none)"
    )
    args = parser.parse_args()
    connections = [int(c) for c in args.connections.split(",")]
    targets = args.targets.split(",")
    if args.before and "before" not in targets:
        targets.insert(1, "before")
    unknown = set(args.workload.split(",")) - set(WORKLOADS)
    if unknown:
        sys.exit(f"--workload: unknown {', '.join(sorted(unknown))} (distinct, hot, scanner)")
    rows = [route for workload in args.workload.split(",") for route in WORKLOADS[workload]]
    if "nginx" in targets and not shutil.which("nginx"):
        sys.exit("nginx is not installed (apt-get install nginx-light), or drop it from --targets")
    results: dict[tuple[str, str, int], list[Result]] = defaultdict(list)
    peak: dict[str, float] = defaultdict(float)
    postgres = None
    if any(t.startswith("pg") for t in targets) and not args.postgres:
        from tests.pgserver import PostgresServer

        postgres = PostgresServer()
        args.postgres = postgres.url
    try:
        run(args, targets, connections, results, peak)
    finally:
        if postgres is not None:
            postgres.stop()
    report(results, peak, targets, connections, rows)
    if args.ingest:
        rates = ingest_rounds(args.rounds, args.ingest)
        print(f"  {'events ingested per s, batches of 1,000 over HTTP':<52}"
              f"{statistics.median(rates):>10,.0f}  aim >= 100000 "
              f"{'met' if statistics.median(rates) >= 100_000 else 'short'}")  # fmt: skip


def ingest_rounds(rounds: int, batches: int) -> list[float]:
    """Events/s of ``POST /api/v1/events`` (bench.ingest's load) on a fresh tracker each
    round, pinned like the other targets."""
    import asyncio

    from bench.ingest import ingest

    rates = []
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the client where wrk ran; the server on core 0
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(rounds):
            server = Server("tracker", Path(tmp) / str(round_no))
            server.start()
            try:
                rates.append(asyncio.run(ingest(f"http://127.0.0.1:{server.port}", round_no,
                                                batches)))  # fmt: skip
            finally:
                server.stop()
    return rates


def run(
    args: argparse.Namespace,
    targets: list[str],
    connections: list[int],
    results: dict[tuple[str, str, int], list[Result]],
    peak: dict[str, float],
) -> None:
    """Every target, round by round, on the same tokens."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        paths = write_paths(workdir)
        scripts = {}
        for route, file in paths.items():
            scripts[route] = workdir / f"wrk-{route.replace(' ', '-')}.lua"
            scripts[route].write_text(WRK_SCRIPT % file)
        rows = [route for workload in args.workload.split(",") for route in WORKLOADS[workload]]
        if "consent" in targets:
            for seeded in ("consent", "tracker"):
                seed_consent(workdir / f"data-{seeded}", args.consent_states)
        for round_no in range(args.rounds):
            for target in targets:
                url = ""
                if target.startswith("pg"):
                    from tests.pgserver import new_schema

                    url = new_schema(args.postgres)
                server = Server(target, workdir, url, args.before or sys.executable)
                server.start()
                try:
                    run_wrk(server.port, scripts["o"], 16, 1)  # warm up
                    for route in rows:
                        for conns in connections:
                            assert server.proc is not None
                            began = cpu_seconds(server.proc.pid)
                            result = run_wrk(server.port, scripts[route], conns, args.seconds)
                            spent = cpu_seconds(server.proc.pid) - began
                            if result.requests:
                                result.cpu_us = spent / result.requests * 1e6
                            results[(target, route, conns)].append(result)
                finally:
                    server.stop()
                peak[target] = max(peak[target], server.peak_rss_mb)
                print(f"round {round_no + 1}: {target} done", file=sys.stderr)


def seed_consent(data_dir: Path, count: int) -> None:
    """``count`` people's consent states in the store of ``data_dir``: the bench's
    recipients granted (``TOKENS_PER_ROUTE`` of them, and the scanned ones), others mixed."""
    import asyncio

    from tracker import config
    from tracker.store import open_store
    from tracker.store.rows import ConsentRow

    settings = config.load(env={}, data_dir=str(data_dir), secret_keys=SECRET, api_keys=API_KEY)
    bench = [f"recipient-{i:07d}" for i in range(TOKENS_PER_ROUTE)]
    bench += [f"recipient-{900_000 + r:07d}" for r in range(SCANNED[0])] + ["recipient-0000001"]
    people = bench + [f"person-{n:07d}" for n in range(max(0, count - len(bench)))]
    at = "2026-01-01T00:00:00.000000Z"

    async def write() -> None:
        store = open_store(settings)
        await store.open()
        try:
            for start in range(0, len(people), 10_000):
                chunk = people[start : start + 10_000]
                rows = [ConsentRow(p, "granted" if p.startswith("recipient") else
                                   ("granted", "denied", "unknown")[n % 3], at, "import", None)
                        for n, p in enumerate(chunk)]  # fmt: skip
                await store.set_consent(rows, at)
        finally:
            await store.close()

    began = time.monotonic()
    asyncio.run(write())
    # Each change is an event: consolidated now, not by the server during a round.
    env = dict(os.environ, TRACKER_DATA_DIR=str(data_dir), TRACKER_SECRET_KEYS=SECRET,
               TRACKER_API_KEYS=API_KEY, TRACKER_LOG_LEVEL="warning")  # fmt: skip
    subprocess.run([sys.executable, "-m", "tracker", "workflow", "run"], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"{len(people):,} consent states written in {time.monotonic() - began:.0f} s",
          file=sys.stderr)  # fmt: skip


def report(
    results: dict[tuple[str, str, int], list[Result]],
    peak: dict[str, float],
    targets: list[str],
    connections: list[int],
    rows: list[str],
) -> None:
    def med(target: str, route: str, conns: int, field: str) -> float:
        return statistics.median(getattr(r, field) for r in results[(target, route, conns)])

    print(
        f"\n{'route':<10}{'conns':>6}"
        + "".join(f"{t + ' req/s':>18}" for t in targets)
        + "".join(f"{h:>8}" for h in ("t/bare", "t/nginx", "t/t-1", "t/bef", "t/dist"))
        + f"{'p50 ms':>8}{'p99 ms':>8}"
    )
    for route in rows:
        for conns in connections:
            path, _, shape = route.partition(" ")
            row = f"{'/' + path + '/ ' + shape:<10}{conns:>6}"
            for t in targets:
                row += f"{med(t, route, conns, 'rps'):>18,.0f}"
            mine = med("tracker", route, conns, "rps")
            for base in ("bare", "nginx", "tracker-1", "before"):
                ratio = mine / med(base, route, conns, "rps") if base in targets else float("nan")
                row += f"{ratio:>8.2f}"
            distinct = (
                mine / med("tracker", path, conns, "rps")
                if (path in rows and shape)
                else float("nan")
            )
            row += f"{distinct:>8.2f}"
            row += f"{med('tracker', route, conns, 'p50_ms'):>8.2f}"
            row += f"{med('tracker', route, conns, 'p99_ms'):>8.2f}"
            print(row)
    if "tracker-w2" in targets:
        for route in rows:
            ratios = []
            for conns in connections:
                both = med("tracker-w2", route, conns, "rps") / med("tracker", route, conns, "rps")
                ratios.append(f"{conns}: {both:.2f}")
            print(f"--workers 2 / one worker, /{route}/ by connections: " + ", ".join(ratios))
    if "consent" in targets:
        for route in rows:
            ratios = [
                f"{c}: {med('consent', route, c, 'rps') / med('tracker', route, c, 'rps'):.3f}"
                for c in connections
            ]
            print(f"consent (opt_in) / tracker, /{route}/ by connections: " + ", ".join(ratios))
            cpu = [f"{c}: {med('consent', route, c, 'cpu_us'):.0f} / "
                   f"{med('tracker', route, c, 'cpu_us'):.0f} µs = "
                   f"{med('consent', route, c, 'cpu_us') / med('tracker', route, c, 'cpu_us'):.3f}"
                   for c in connections]  # fmt: skip
            print(f"  server CPU per request, consent / tracker, /{route}/: " + ", ".join(cpu))
    for pg in ("pg", "pg-w2"):
        if pg in targets:
            for route in rows:
                ratios = [
                    f"{c}: {med(pg, route, c, 'rps') / med('tracker', route, c, 'rps'):.2f}"
                    for c in connections
                ]
                print(f"{pg} / tracker on SQLite, /{route}/ by connections: " + ", ".join(ratios))
    print("\npeak RSS (MB): " + ", ".join(f"{t} {peak[t]:.0f}" for t in targets))
    if "tracker" in targets:
        print_goals(med, targets, connections, rows)


def print_goals(
    med: Callable[[str, str, int, str], float],
    targets: list[str],
    connections: list[int],
    rows: list[str],
) -> None:
    """Each speed aim's figure from this run, its ratio and whether it is met."""

    def line(aim: str, figure: float, goal: float, above: bool = True) -> None:
        met = figure >= goal if above else figure < goal
        print(f"  {aim:<52}{figure:>10.2f}  aim {'>=' if above else '<'} {goal:<6} "
              f"{'met' if met else 'short'}")  # fmt: skip

    print("\naims (tracker, medians of this run):")
    for shape in ("c hot", "c scan"):
        if shape in rows and "c" in rows:
            for c in connections:
                ratio = med("tracker", shape, c, "rps") / med("tracker", "c", c, "rps")
                line(f"/{shape.replace(' ', '/ ')} over distinct /c/, {c} conns", ratio, 0.8)
    for route in ("c", "o"):
        if route not in rows or 64 not in connections:
            continue
        for base, goal in (("bare", 0.65), ("nginx", 0.15)):
            if base in targets:
                ratio = med("tracker", route, 64, "rps") / med(base, route, 64, "rps")
                line(f"/{route}/ over {base}, 64 conns", ratio, goal)
        if 1 in connections:
            line(f"/{route}/ req/s, 1 conn", med("tracker", route, 1, "rps"), 3000)
        for c in (1, 16):
            if c in connections:
                line(f"/{route}/ p50 ms, {c} conns", med("tracker", route, c, "p50_ms"), 1.0,
                     above=False)  # fmt: skip
        line(f"/{route}/ p99 ms, 64 conns", med("tracker", route, 64, "p99_ms"), 15.0, above=False)


if __name__ == "__main__":
    main()
