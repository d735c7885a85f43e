"""deploy/: image, Compose, topics, alerting rules (promtool), dashboards against a real
Prometheus scraping the running services."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kafka import KafkaProducer

from cli.broker import free_port, wait_for_port
from schemas import topics
from schemas.reference import reference
from tests.conftest import IS_CI, Broker
from tests.factories import declaration_in, make_declaration
from tests.pipeline import Pipeline, eventually

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "iaspipe.yml"
RULE_FILES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "iaspipe.json"


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found:
        return found
    message = f"{name} is not installed (make test installs Debian's prometheus/docker-compose)"
    if IS_CI:
        pytest.fail(message)
    pytest.skip(message)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=cwd)


def test_alerting_rules_are_valid() -> None:
    r = run(tool("promtool"), "check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "7 rules found" in r.stdout
    for extra in ("clusters.yml", "security.yml"):
        r = run(tool("promtool"), "check", "rules", str(DEPLOY / "prometheus/rules" / extra))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "1 rules found" in r.stdout


def test_alerting_rules_unit_tests() -> None:
    tests = DEPLOY / "prometheus" / "tests"
    r = run(tool("promtool"), "test", "rules", *[p.name for p in tests.glob("*.yml")], cwd=tests)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    r = run(
        tool("promtool"),
        "check",
        "config",
        "--syntax-only",
        str(DEPLOY / "prometheus" / "prometheus.yml"),
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_compose_file_is_valid() -> None:
    r = run(
        tool("docker-compose"),
        "-f",
        str(DEPLOY / "compose.yaml"),
        "--env-file",
        str(DEPLOY / ".env.example"),
        "config",
    )
    assert r.returncode == 0, r.stderr
    config = yaml.safe_load(r.stdout)
    services = config["services"]
    brokers = [s for s in services.values() if s.get("image", "").startswith("apache/kafka")]
    assert len(brokers) == 3
    for broker in brokers:
        env = broker["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
        assert str(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == "3"
        assert str(env["KAFKA_MIN_INSYNC_REPLICAS"]) == "2"
        assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"
    assert {
        "portal",
        "intake",
        "router",
        "cpias",
        "notifier",
        "postgres",
        "prometheus",
        "grafana",
        "topics",
    } <= set(services)
    assert services["notifier"]["command"] == ["notifier"]
    assert services["notifier"]["environment"]["NOTIFIER_SENDER"] == "smtp"
    assert services["topics"]["command"][:2] == ["topics", "create"]
    portal = services["portal"]
    assert portal["command"] == ["portal"]
    assert portal["environment"]["PORTAL_COOKIE_SECURE"] == "always"
    assert portal["environment"]["PORTAL_OIDC__ISSUER"]
    # The services trust the API tokens the portal signs: its issuer, its JWKS.
    for name in ("intake", "cpias", "router"):
        env = services[name]["environment"]
        assert env[f"{name.upper()}_AUTH__JWKS_URL"] == "http://portal:8000/.well-known/jwks.json"
        assert env[f"{name.upper()}_AUTH__ISSUER"] == portal["environment"]["PORTAL_AUTH__ISSUER"]


def test_dockerfile_passes_hadolint() -> None:
    r = run(tool("hadolint"), str(DEPLOY / "Dockerfile"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_topic_definitions_are_current() -> None:
    from schemas.topics import all_topics

    listed = (DEPLOY / "kafka" / "topics.txt").read_text().split()
    assert listed == all_topics(reference())


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    assert [v["name"] for v in dash["templating"]["list"]] == ["region"]
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    return exprs


def rule_exprs() -> list[str]:
    return [
        str(rule["expr"])
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def test_dashboard_has_the_panels_analysts_need() -> None:
    text = " ".join(dashboard_exprs())
    for metric in (
        "intake_declarations_received_total",
        "router_decisions_total",
        "cpias_submission_to_acknowledge_seconds_bucket",
        "cpias_open_cases",
        "cpias_overdue_cases",
        "iaspipe_dead_letters_total",
        "iaspipe_consumer_lag",
        "iaspipe_outbox_backlog",
    ):
        assert metric in text, metric
    assert "histogram_quantile(0.5" in text and "histogram_quantile(0.9" in text


def _concrete(expr: str) -> str:
    return expr.replace("$region", ".*").replace("$__range", "1h")


METRIC = re.compile(
    r"\b([a-z_]+_(?:total|seconds_bucket|seconds|lag|backlog|cases)|up)\b"
    r"(\{[^}]*\})?"
)


@pytest.mark.e2e
def test_every_dashboard_and_rule_expression_runs_against_real_metrics(
    broker: Broker, tmp_path: Path
) -> None:
    prometheus = tool("prometheus")
    # Two OXA-48 episodes in the Rhône below cross a threshold of 2: the threshold counter
    # exists for the rule that reads it.
    p = Pipeline(
        broker,
        tmp_path,
        cpias={
            "ACK_HOURS": '{"urgent": 0.0001, "high": 0.0001, "normal": 72}',
            "CLUSTERS__THRESHOLD_EPISODES": "2",
        },
    )
    prom_port = free_port()
    proc = None
    try:
        p.start("intake", "router", "cpias", "notifier")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in RULE_FILES],
            "scrape_configs": [
                {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                for name, port in p.ports.items()
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        proc = subprocess.Popen(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=(tmp_path / "prometheus.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_for_port("127.0.0.1", prom_port, timeout=30)

        ids = [
            p.post("intake", "/v1/declarations", json=body).json()["id"]
            for body in (
                make_declaration(),
                declaration_in("29"),
                make_declaration(criteria=["1a", "3"], infection__deaths=1),
            )
        ]
        assert p.get("cpias", "/v1/cases/no-such-case").status_code == 404  # a refusal
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        producer.send(topics.DECLARATIONS, b"not an event").get(10)
        producer.close()

        def cases() -> list[dict[str, Any]]:
            return list(p.get("cpias", "/v1/cases").json()["items"])

        eventually(lambda: len(cases()) == 3, timeout=60, what="three cases")
        first = next(c for c in cases() if c["declaration_id"] == ids[0])
        assert (
            p.post(
                "cpias", f"/v1/cases/{first['id']}/transitions", json={"to": "acknowledged"}
            ).status_code
            == 200
        )
        time.sleep(1)  # past the tiny deadlines: the others are overdue

        base = f"http://127.0.0.1:{prom_port}/api/v1/query"

        def query(expr: str) -> list[Any]:
            r = httpx.get(base, params={"query": expr}, timeout=10).json()
            assert r["status"] == "success", (expr, r)
            return list(r["data"]["result"])

        eventually(
            lambda: (
                query("iaspipe_dead_letters_total")
                and query("cpias_submission_to_acknowledge_seconds_bucket")
                and len(query("up == 1")) == 4
            ),
            timeout=60,
            what="scraped metrics",
        )
        time.sleep(3)  # a few more scrapes, so that rates and increases have two samples

        for expr in dashboard_exprs():
            assert query(_concrete(expr)), f"dashboard query returned no data: {expr}"
        for expr in rule_exprs():
            query(expr)  # valid PromQL, evaluated against the live metrics
            for name, labels in METRIC.findall(expr):
                selector = name + (labels or "")
                assert query(selector), f"alert rule reads a series that does not exist: {selector}"
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        p.stop_all()
