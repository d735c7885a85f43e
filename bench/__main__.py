"""`make bench`: every benchmark in one run; figures printed and written to .bench/results.json."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from bench import clusters, cpias, e2e, intake, router


def main() -> None:
    p = argparse.ArgumentParser(prog="bench")
    p.add_argument("--only", choices=["intake", "router", "cpias", "clusters", "e2e"])
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--records", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=2, help="router, cpias: best of this many")
    p.add_argument(
        "--cases", type=int, default=2000, help="cpias: synthetic records per round (0: none)"
    )
    p.add_argument(
        "--sample-cases", type=int, default=500, help="cpias: sample records per round (0: none)"
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy profiles: intake under load, one more cpias round, each service in e2e",
    )
    p.add_argument("--seed", type=int, default=clusters.SEED, help="clusters: generator seed")
    p.add_argument(
        "--declarations", type=int, default=100_000, help="clusters: declarations in the database"
    )
    p.add_argument("--rate", type=float, default=200.0, help="e2e: declarations sent per second")
    p.add_argument("--e2e-seconds", type=float, default=60.0, help="e2e: seconds of sending")
    args = p.parse_args()
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    # Figures of a benchmark not run this time are kept from the previous run.
    previous = out / "results.json"
    results: dict[str, object] = json.loads(previous.read_text()) if previous.exists() else {}
    results["machine"] = f"{platform.machine()}, {platform.python_version()}"
    if args.only in (None, "intake"):
        print("== intake against three simple peers (PostgreSQL, server and wrk on separate cores)")
        results["intake"] = intake.main(args.seconds, args.connections, args.profile)
    if args.only in (None, "router"):
        print("== router vs raw kafka-python consume -> produce, same broker")
        results["router"] = router.main(n=args.records, rounds=args.rounds)
    if args.only in (None, "cpias"):
        print("== cpias case creation vs raw kafka-python consume -> insert, same broker")
        results["cpias"] = cpias.main(
            n=args.cases, sample_n=args.sample_cases, rounds=args.rounds, profile=args.profile
        )
    if args.only in (None, "clusters"):
        print("== cluster rule: precision and recall on planted outbreaks; time to suggest")
        results["clusters"] = clusters.main(seed=args.seed, total=args.declarations)
    if args.only in (None, "e2e"):
        print("== end to end: 201 -> case in the CPias queue, RSS of each process (PostgreSQL)")
        results["e2e"] = e2e.main(rate=args.rate, seconds=args.e2e_seconds, profile=args.profile)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


main()
