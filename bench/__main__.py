"""``python -m bench``: every benchmark in one run (HTTP load, then the sending system's).

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
    for module, extra in (("bench.http", http + args), ("bench.ingest", ingest)):
        print(f"== python -m {module} {' '.join(extra)}", flush=True)
        code = subprocess.call([sys.executable, "-m", module, *extra])
        if code:
            sys.exit(code)


if __name__ == "__main__":
    main()
