"""``python -m bench``: every benchmark in one run (HTTP load, the sending system's, then
the bounce intake's).

Arguments are passed to ``bench.http``; ``--quick`` runs one short round of each.
"""

from __future__ import annotations

import subprocess
import sys


def main() -> None:
    args = sys.argv[1:]
    quick = "--quick" in args
    args = [a for a in args if a != "--quick"]
    http = ["--rounds", "1", "--seconds", "1"] if quick else []
    ingest = ["--rounds", "1", "--population", "100000"] if quick else []
    bounces = ["--messages", "2000"] if quick else []
    runs = (("bench.http", http + args), ("bench.ingest", ingest), ("bench.bounces", bounces))
    for module, extra in runs:
        print(f"== python -m {module} {' '.join(extra)}", flush=True)
        code = subprocess.call([sys.executable, "-m", module, *extra])
        if code:
            sys.exit(code)


if __name__ == "__main__":
    main()
