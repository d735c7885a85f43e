"""The `iaspipe` command: one subcommand per service, the broker, the local stack, tools."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

SERVICES = ("intake", "router", "cpias", "notifier")


def _service(name: str) -> int:
    if name == "intake":
        from services.intake.__main__ import main
    elif name == "router":
        from services.router.__main__ import main
    elif name == "portal":
        from services.portal.__main__ import main
    elif name == "notifier":
        from services.notifier.__main__ import main
    else:
        from services.cpias.__main__ import main
    main()
    return 0


def _relay(args: argparse.Namespace) -> int:
    if args.service == "intake":
        from services.intake.app import database_runtime as intake_runtime
        from services.intake.settings import IntakeSettings

        runtime = intake_runtime(IntakeSettings())
    else:
        from services.cpias.app import database_runtime as cpias_runtime
        from services.cpias.settings import CpiasSettings

        runtime = cpias_runtime(CpiasSettings())
    runtime.run_relay(args.metrics_port)
    return 0


def _broker(args: argparse.Namespace) -> int:
    from cli.broker import start_broker
    from iaspipe.kafka import ensure_topics

    proc = start_broker(args.port, quiet=False)
    created = ensure_topics([f"127.0.0.1:{args.port}"], partitions=args.partitions)
    print(f"broker listening on 127.0.0.1:{args.port}; {len(created)} topics created", flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: proc.terminate())
    return proc.wait()


def _stack(args: argparse.Namespace) -> int:
    from cli.stack import run

    return run(
        broker_port=args.broker_port,
        intake_port=args.intake_port,
        cpias_port=args.cpias_port,
        router_port=args.router_port,
        portal_port=args.portal_port,
        notifier_port=args.notifier_port,
        data_dir=Path(args.data_dir),
    )


def _schemas(args: argparse.Namespace) -> int:
    from schemas.export import JSON_DIR, export, stale

    if args.check:
        names = stale(JSON_DIR)
        for name in names:
            print(f"stale: {name}")
        return 1 if names else 0
    for path in export(JSON_DIR):
        print(path)
    return 0


def _read(file: str) -> Any:
    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    return json.loads(text)


def _print_problems(problems: list[dict[str, Any]]) -> None:
    for p in problems:
        article = f" [{p['article']}]" if p.get("article") else ""
        print(f"{p['path']}: {p['message']}{article}", file=sys.stderr)


def _submit(args: argparse.Namespace) -> int:
    import httpx

    try:
        body = _read(args.file)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"{args.file}: cannot read a JSON declaration ({exc})", file=sys.stderr)
        return 2
    headers = {"Idempotency-Key": args.idempotency_key or str(uuid.uuid4())}
    token = args.token or os.environ.get("IASPIPE_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.post(
            f"{args.url.rstrip('/')}/v1/declarations", json=body, headers=headers, timeout=30
        )
    except httpx.HTTPError as exc:
        print(f"intake unreachable at {args.url}: {exc}", file=sys.stderr)
        return 2
    data = (
        response.json()
        if response.headers.get("content-type", "").startswith(
            ("application/json", "application/problem+json")
        )
        else {}
    )
    if response.status_code in (200, 201):
        print(data["reference"])
        print(f"id {data['id']}", file=sys.stderr)
        return 0
    print(f"refused ({response.status_code}): {data.get('detail', response.text)}", file=sys.stderr)
    _print_problems(data.get("errors", []))
    return 1


def _instant(text: str) -> dt.datetime:
    at = dt.datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (e.g. 2026-11-22T21:30:00+00:00)")
    return at


def _route(args: argparse.Namespace) -> int:
    from schemas.validation import check_declaration
    from services.router.app import load
    from services.router.domain.decide import decide
    from services.router.domain.routing_rules import RulesError
    from services.router.settings import RouterSettings

    try:
        # The rules and reference data the router itself would load (ROUTER_RULES_FILE,
        # ROUTER_REFERENCE_DIR), so that the decision explained is the one it makes.
        data = load(RouterSettings())
    except RulesError as exc:
        print(f"routing data rejected: {exc}", file=sys.stderr)
        return 2
    try:
        body = _read(args.file)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"{args.file}: cannot read a JSON declaration ({exc})", file=sys.stderr)
        return 2
    try:
        now = _instant(args.at) if args.at else None
    except ValueError as exc:
        print(f"--at: {exc}", file=sys.stderr)
        return 2
    # Dates are checked against today in the declaration's département, as intake does.
    decl, problems = check_declaration(body, ref=data.reference, now=now)
    if decl is None:
        _print_problems([p.model_dump() for p in problems])
        return 1
    print(json.dumps(decide(decl, data).model_dump(mode="json"), indent=2, ensure_ascii=False))
    return 0


def _token(args: argparse.Namespace) -> int:
    from iaspipe.auth import AuthSettings, issue_local_token
    from iaspipe.principal import Role

    settings = AuthSettings(local_key_file=Path(args.key_file))
    role = Role(args.role)
    # A declarant without --finess: a professional in community practice.
    needs = {
        Role.cpias_investigator: ("cpias", args.cpias),
        Role.ars_viewer: ("region", args.region),
    }
    if role in needs and not needs[role][1]:
        print(f"a {role.value} token needs --{needs[role][0]}", file=sys.stderr)
        return 2
    subject = args.subject or f"{role.value}-{uuid.uuid4().hex[:8]}"
    print(
        issue_local_token(
            settings,
            subject=subject,
            role=role,
            finess=args.finess,
            cpias=args.cpias,
            region=args.region,
            ttl_seconds=args.ttl_hours * 3600,
        )
    )
    return 0


def _read_password() -> str:
    """A new password: one line of standard input, never echoed nor logged."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Mot de passe (12 caractères au moins) : ")
    return sys.stdin.readline().rstrip("\r\n")


def _users(args: argparse.Namespace) -> int:
    from iaspipe.db import upgrade
    from iaspipe.errors import ServiceError
    from iaspipe.principal import Role
    from schemas.reference import reference
    from services.portal import service
    from services.portal.adapters.passwords import Argon2Passwords
    from services.portal.app import MIGRATIONS, database
    from services.portal.domain.accounts import account_problems
    from services.portal.settings import PortalSettings

    if args.action == "add":
        ref = reference()
        problems = account_problems(
            args.email,
            args.role,
            args.finess,
            args.cpias,
            args.region,
            cpias_ids=ref.cpias_ids,
            region_codes=ref.region_codes,
        )
        if problems:
            for problem in problems:
                print(problem.message_en, file=sys.stderr)
            return 2
    settings = PortalSettings()
    if settings.oidc.enabled:
        print(
            "PORTAL_OIDC__ISSUER is set: people sign in with the identity provider", file=sys.stderr
        )
        return 2
    password = _read_password() if args.action in ("add", "password") else ""
    engine, uow = database(settings)
    try:
        upgrade(engine, MIGRATIONS)
        if args.action == "password":
            done = service.set_password(
                uow(),
                Argon2Passwords(),
                args.email,
                password,
                min_password_length=settings.min_password_length,
            )
            print(f"account {done.email}: new password set, its open sessions ended")
            return 0
        if args.action != "add":
            done = service.set_account_active(uow(), args.email, active=args.action == "enable")
            print(f"account {done.email} {'enabled' if done.active else 'disabled'}")
            return 0
        account = service.add_account(
            uow(),
            Argon2Passwords(),
            email=args.email,
            password=password,
            role=Role(args.role),
            finess=args.finess,
            cpias=args.cpias,
            region=args.region,
            display_name=args.name or "",
            min_password_length=settings.min_password_length,
        )
    except ServiceError as exc:
        print(f"{args.email}: {exc.problems()[0].message_en}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    community = "community practice, no FINESS" if account.role is Role.declarant else "all"
    scope = account.finess or account.cpias or account.region or community
    print(f"account {account.email} added: {account.role.value} ({scope})")
    return 0


def _topics(args: argparse.Namespace) -> int:
    from schemas.reference import reference
    from schemas.topics import all_topics

    names = all_topics(reference())
    if args.action == "list":
        print("\n".join(names))
        return 0
    from iaspipe.kafka import ensure_topics

    configs = (
        {"min.insync.replicas": str(args.min_insync_replicas)} if args.min_insync_replicas else {}
    )
    created = ensure_topics(
        args.bootstrap.split(","), names, args.partitions, args.replication_factor, configs
    )
    print(f"{len(created)} topics created, {len(names) - len(created)} already there")
    return 0


def _role_and_scope(p: argparse.ArgumentParser) -> None:
    """--role, and the scope that role needs (of an account, or of a token)."""
    p.add_argument(
        "--role", required=True, choices=["declarant", "cpias_investigator", "ars_viewer", "admin"]
    )
    p.add_argument("--finess", help="a declarant's establishment")
    p.add_argument("--cpias", help="an investigator's CPias, e.g. cpias-ara")
    p.add_argument("--region", help="an ARS viewer's region code, e.g. 84")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="iaspipe", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("portal", *SERVICES):
        sub.add_parser(name, help=f"run the {name} service (settings from {name.upper()}_*)")
    rl = sub.add_parser(
        "relay",
        help="publish a service's outbox from a process of its own (the service then runs "
        "with RELAY_IN_PROCESS=false; settings from INTAKE_* or CPIAS_*)",
    )
    rl.add_argument("service", choices=("intake", "cpias"))
    rl.add_argument("--metrics-port", type=int, help="serve the relay's metrics on this port")
    b = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (Tansu)")
    b.add_argument("--port", type=int, default=9092)
    b.add_argument("--partitions", type=int, default=3)
    s = sub.add_parser(
        "stack", help="run the broker, intake, router, cpias, the notifier and the portal together"
    )
    s.add_argument("--portal-port", type=int, default=8000)
    s.add_argument("--broker-port", type=int, default=9092)
    s.add_argument("--intake-port", type=int, default=8001)
    s.add_argument("--cpias-port", type=int, default=8002)
    s.add_argument("--router-port", type=int, default=8003)
    s.add_argument("--notifier-port", type=int, default=8004)
    s.add_argument("--data-dir", default=".data")
    sc = sub.add_parser("schemas", help="JSON Schema files of the contracts")
    sc_sub = sc.add_subparsers(dest="action", required=True)
    ex = sc_sub.add_parser("export", help="write schemas/json/*.schema.json")
    ex.add_argument("--check", action="store_true", help="only report stale files")
    sm = sub.add_parser("submit", help="post a declaration; prints its reference or the errors")
    sm.add_argument("file", help="a JSON declaration, or - for stdin")
    sm.add_argument("--url", default=os.environ.get("IASPIPE_INTAKE_URL", "http://127.0.0.1:8001"))
    sm.add_argument("--idempotency-key")
    sm.add_argument("--token", help="bearer token (default: $IASPIPE_TOKEN)")
    r = sub.add_parser("route", help="explain the routing decision for a declaration")
    r.add_argument(
        "--explain",
        action="store_true",
        required=True,
        help="print the decision; nothing is published",
    )
    r.add_argument("file", help="a JSON declaration, or - for stdin")
    r.add_argument(
        "--at",
        help="check dates as of this instant, ISO 8601 with its offset (default: now); "
        "today is the calendar day of the declaration's département",
    )
    tp = sub.add_parser("topics", help="list the topics, or create the missing ones")
    tp.add_argument("action", choices=["list", "create"])
    tp.add_argument("--bootstrap", default="127.0.0.1:9092")
    tp.add_argument("--partitions", type=int, default=6)
    tp.add_argument("--replication-factor", type=int, default=3)
    tp.add_argument("--min-insync-replicas", type=int, default=2)
    us = sub.add_parser("users", help="the portal's local accounts (embedded default)")
    us_sub = us.add_subparsers(dest="action", required=True)
    ua = us_sub.add_parser(
        "add",
        help="add an account; the password is read from standard input (settings: PORTAL_*)",
    )
    ua.add_argument("email", help="the account's email address, its username")
    _role_and_scope(ua)
    ua.add_argument("--name", help="the name shown in the portal, e.g. 'Dr Claire Martin'")
    for verb, does in (
        ("disable", "disable an account: it cannot sign in, its open sessions end now"),
        ("enable", "enable a disabled account again"),
        (
            "password",
            "set a new password (read from standard input); the account's open sessions end "
            "and its lock-out is lifted",
        ),
    ):
        us_sub.add_parser(verb, help=does).add_argument("email", help="the account's address")
    t = sub.add_parser("token", help="print a token of the local issuer (embedded default)")
    _role_and_scope(t)
    t.add_argument("--subject", help="who the token names (default: generated)")
    t.add_argument("--ttl-hours", type=int, default=8)
    t.add_argument("--key-file", default=".data/local-issuer-key.pem")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command in ("portal", *SERVICES):
        code = _service(args.command)
    else:
        handlers = {
            "token": _token,
            "topics": _topics,
            "broker": _broker,
            "relay": _relay,
            "stack": _stack,
            "schemas": _schemas,
            "submit": _submit,
            "route": _route,
            "users": _users,
        }
        code = handlers[args.command](args)
    raise SystemExit(code)
