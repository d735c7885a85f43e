"""`make bench`: every benchmark in one run; figures printed and written to .bench/results.json."""

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
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--records", type=int, default=5000)
    p.add_argument("--profile", action="store_true", help="py-spy profile of intake under load")
    args = p.parse_args()
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    results: dict[str, object] = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    if args.only in (None, "intake"):
        print("== intake against three simple peers (PostgreSQL, server and wrk on separate cores)")
        results["intake"] = intake.main(args.seconds, args.connections, args.profile)
    if args.only in (None, "router"):
        print("== router vs raw kafka-python consume -> produce, same broker")
        results["router"] = router.main(n=args.records)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


main()
