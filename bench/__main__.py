"""`make bench`: intake and router benchmarks; results also written to .bench/results.json."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from bench import intake, router


def main() -> None:
    p = argparse.ArgumentParser(prog="bench")
    p.add_argument("--only", choices=["intake", "router"])
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--records", type=int, default=5000)
    p.add_argument("--processes", type=int, default=1, help="intake server processes")
    args = p.parse_args()
    results: dict[str, object] = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    if args.only in (None, "intake"):
        print("== intake: valid submissions into PostgreSQL vs a trivial POST, same server")
        results["intake"] = intake.main(seconds=args.seconds, processes=args.processes)
    if args.only in (None, "router"):
        print("== router vs raw kafka-python consume -> produce, same broker")
        results["router"] = router.main(n=args.records)
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))


main()
