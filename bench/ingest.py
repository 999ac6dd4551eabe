"""Ingest benchmark: the real `pagerbot serve` under Alertmanager webhook load.

Starts the bot as a subprocess on a free loopback port against a fresh database
(a temp SQLite file, and a throwaway PostgreSQL database when 127.0.0.1:5432 answers),
drives `POST /webhooks/alertmanager` with realistic version-4 payloads (10 alerts per
request: new groups, repeated group snapshots, resolutions) and prints a table:

1. closed loop: alerts/s, requests/s and latency at several concurrencies;
2. constant rate (open loop, schedule-based: latency includes queueing), 10,000 alerts/s;
3. burst at 30,000 alerts/s for 10 s straight after (2): 5xx and other non-200 answers;
4. memory: 100,000 distinct firing alerts, then the bot's peak (VmHWM) and current RSS,
   after the load, after idling past the periodic jobs, and after a restart.

The load generator shares the machine with the bot, so every row says how much CPU
the generator (all its processes), the bot and the whole machine used.

Run:  .venv/bin/python bench/ingest.py [--backend sqlite|postgres|both] [--quick]
See docs/benchmarks.md for the figures and how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import multiprocessing as mp
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
from _host import reference_ms
from _http import Client
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
TOKEN = "bench-token"
ALERTS_PER_REQUEST = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")
BOT_SRC: list[Path | None] = [None]  # --bot-src
PROFILE: list[Path | None] = [None]  # --profile
PROFILE_GIL = [False]  # --profile-gil
NCPU = os.cpu_count() or 1

# ---------------------------------------------------------------------------- payloads

# alertname, severity, summary, description, expression
_RULES: list[tuple[str, str, str, str, str]] = [
    (
        "KubePodCrashLooping",
        "warning",
        "Pod {namespace}/{pod} is crash looping",
        'Pod {namespace}/{pod} ({container}) is in waiting state (reason: "CrashLoopBackOff").',
        'max_over_time(kube_pod_container_status_waiting_reason{{reason="CrashLoopBackOff"}}[5m])'
        " >= 1",
    ),
    (
        "KubePodNotReady",
        "warning",
        "Pod has been in a non-ready state for more than 15 minutes.",
        "Pod {namespace}/{pod} has been in a non-ready state for longer than 15 minutes.",
        'sum by (namespace, pod, cluster) (kube_pod_status_phase{{phase=~"Pending|Unknown"}}) > 0',
    ),
    (
        "CPUThrottlingHigh",
        "info",
        "Processes experience elevated CPU throttling.",
        "{value}% throttling of CPU in namespace {namespace} for container {container} in pod "
        "{pod}.",
        "sum(increase(container_cpu_cfs_throttled_periods_total[5m])) by (container, pod) > 0.25",
    ),
    (
        "ContainerOOMKilled",
        "warning",
        "Container {container} in {namespace}/{pod} was OOM killed",
        "Container {container} was OOM killed {value} times in the last 10 minutes.",
        "increase(kube_pod_container_status_restarts_total[10m]) > 0 and on (pod) kube_pod_"
        'container_status_last_terminated_reason{{reason="OOMKilled"}} == 1',
    ),
    (
        "HTTPErrorRateHigh",
        "critical",
        "{container} answers {value}% 5xx",
        "More than 5% of requests to {namespace}/{pod} failed with 5xx over the last 5 minutes "
        "(now {value}%).",
        'sum(rate(http_requests_total{{code=~"5.."}}[5m])) by (pod) / sum(rate(http_requests_'
        "total[5m])) by (pod) > 0.05",
    ),
    (
        "CheckoutLatencyHigh",
        "critical",
        "Checkout p99 latency above 800 ms",
        "p99 latency of {namespace}/{pod} is {value} ms (threshold 800 ms).",
        "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[5m])) by (le, "
        "pod)) > 0.8",
    ),
    (
        "KubeDeploymentReplicasMismatch",
        "warning",
        "Deployment has not matched the expected number of replicas.",
        "Deployment {namespace}/{container} has not matched the expected number of replicas "
        "for longer than 15 minutes ({value} available).",
        "kube_deployment_spec_replicas != kube_deployment_status_replicas_available",
    ),
    (
        "TargetDown",
        "warning",
        "One or more targets are unreachable.",
        "{value}% of the {container} targets in {namespace} namespace are down.",
        "100 * (count(up == 0) BY (job, namespace) / count(up) BY (job, namespace)) > 10",
    ),
]
# family → (namespaces, apps, extra labels, share of new groups)
_FAMILIES: list[tuple[list[str], list[str], dict[str, str], float]] = [
    # team=payments: the payments route (group_by alertname, cluster); info → notify_only child
    (
        ["payments", "checkout", "billing"],
        ["checkout", "payment-gateway", "ledger", "fraud-check", "invoicing"],
        {"team": "payments"},
        0.4,
    ),
    # namespace kube-*|monitoring: the platform route (group_by alertname, cluster, namespace)
    (
        ["kube-system", "monitoring", "kube-public"],
        ["coredns", "kube-proxy", "metrics-server", "prometheus", "node-exporter"],
        {},
        0.3,
    ),
    # everything else: the default route (group_by alertname)
    (
        ["search", "web", "catalog"],
        ["search-api", "frontend", "catalog-api", "recommender"],
        {},
        0.3,
    ),
]
_CLUSTERS = [f"prod-{r}-{n}" for r in ("eu", "us", "ap") for n in range(1, 6)]


def rfc3339(t: float) -> str:
    """Alertmanager's timestamps: UTC with a 9-digit fraction."""
    sec = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{int((t - sec) * 1e9):09d}Z"


def fake_fingerprint(labels: dict[str, str]) -> str:
    """16 hex digits over the sorted label set, as Alertmanager sends in `fingerprint`.

    Not Alertmanager's FNV-1a (18 µs/alert in pure Python would tax the generator); the
    bot takes the sender's fingerprint as given, so only uniqueness matters here.
    """
    blob = "\xff".join(f"{k}\xff{labels[k]}" for k in sorted(labels)).encode()
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


@dataclass(slots=True)
class _Group:
    key: str
    group_labels: dict[str, str]
    common: dict[str, str]
    alerts: list[dict[str, Any]]
    rule: tuple[str, str, str, str, str]
    app: str
    serial: int


class Payloads:
    """Alertmanager webhook bodies from one generator worker; group names never collide
    between workers (`worker` is part of every pod name)."""

    def __init__(self, worker: int, seed: int, *, only_new: bool = False) -> None:
        self.rng = random.Random(seed)
        self.worker = worker
        self.only_new = only_new
        self.active: list[_Group] = []
        self.serial = 0
        self.pods = 0
        self.max_active = 5000
        self.counts: Counter[str] = Counter()

    def _alert(self, group: _Group, now: float) -> dict[str, Any]:
        self.pods += 1
        pod = f"{group.app}-{self.worker:02x}{group.serial:06x}-{self.pods:05x}"
        labels = {**group.common, "pod": pod}
        return self._render(group, labels, now)

    def _render(self, group: _Group, labels: dict[str, str], now: float) -> dict[str, Any]:
        name, _sev, summary, description, expr = group.rule
        value = f"{self.rng.uniform(5, 99):.2f}"
        fields = {**labels, "value": value}
        return {
            "status": "firing",
            "labels": labels,
            "annotations": {
                "summary": summary.format(**fields),
                "description": description.format(**fields),
                "runbook_url": f"https://runbooks.example.com/alerts/{name.lower()}",
            },
            "startsAt": rfc3339(now - self.rng.uniform(0, 300)),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus-k8s-0.monitoring.svc:9090/graph?g0.expr="
            + urllib.parse.quote(expr.replace("{{", "{").replace("}}", "}"))
            + "&g0.tab=1",
            "fingerprint": fake_fingerprint(labels),
        }

    def _new_group(self, now: float) -> _Group:
        self.serial += 1
        rng = self.rng
        r, acc = rng.random(), 0.0
        family = _FAMILIES[-1]
        for fam in _FAMILIES:
            acc += fam[3]
            if r < acc:
                family = fam
                break
        namespaces, apps, extra, _share = family
        rule = rng.choice(_RULES)
        namespace, app, cluster = rng.choice(namespaces), rng.choice(apps), rng.choice(_CLUSTERS)
        common = {
            "alertname": rule[0],
            "cluster": cluster,
            "namespace": namespace,
            "container": app,
            "severity": rule[1],
            "prometheus": "monitoring/k8s",
            "job": "kube-state-metrics",
            **extra,
        }
        group_labels = {"alertname": rule[0], "cluster": cluster, "namespace": namespace}
        route = '{}/{team="payments"}' if extra else "{}"
        matchers = ", ".join(f'{k}="{v}"' for k, v in group_labels.items())
        key = f'{route}:{{{matchers}, deployment="{app}-{self.worker}-{self.serial}"}}'
        group = _Group(key, group_labels, common, [], rule, app, self.serial)
        group.alerts = [self._alert(group, now) for _ in range(ALERTS_PER_REQUEST)]
        return group

    def _body(self, group: _Group) -> bytes:
        firing = any(a["status"] == "firing" for a in group.alerts)
        return orjson.dumps(
            {
                "version": "4",
                "groupKey": group.key,
                "truncatedAlerts": 0,
                "status": "firing" if firing else "resolved",
                "receiver": "pagerbot",
                "groupLabels": group.group_labels,
                "commonLabels": group.common,
                "commonAnnotations": {},
                "externalURL": "http://alertmanager.monitoring.svc:9093",
                "alerts": group.alerts,
            }
        )

    def next_body(self) -> bytes:
        """New group 20%, repeated snapshot 65% (a fifth with a changed annotation value),
        resolution 15% (two fifths resolve the whole group, the rest 1-3 pods, which are
        replaced by new firing pods in the group's next snapshot)."""
        now = time.time()
        rng = self.rng
        r = rng.random()
        if self.only_new or not self.active or (r < 0.20 and len(self.active) < self.max_active):
            group = self._new_group(now)
            self.active.append(group)
            self.counts["new"] += 1
            return self._body(group)
        index = rng.randrange(len(self.active))
        group = self.active[index]
        # Resolved alerts were delivered once; Alertmanager drops them from later snapshots.
        if any(a["status"] == "resolved" for a in group.alerts):
            group.alerts = [a for a in group.alerts if a["status"] == "firing"]
            while len(group.alerts) < ALERTS_PER_REQUEST:
                group.alerts.append(self._alert(group, now))
        if r < 0.35 or len(self.active) >= self.max_active:
            whole = rng.random() < 0.4
            victims = group.alerts if whole else rng.sample(group.alerts, rng.randint(1, 3))
            for alert in victims:
                alert["status"] = "resolved"
                alert["endsAt"] = rfc3339(now)
            if whole:
                self.active[index] = self.active[-1]
                self.active.pop()
            self.counts["resolve_all" if whole else "resolve_some"] += 1
            return self._body(group)
        if rng.random() < 0.2:
            alert = rng.choice(group.alerts)
            labels = alert["labels"]
            fresh = self._render(group, labels, now)
            alert["annotations"] = fresh["annotations"]
            self.counts["repeat_changed"] += 1
        else:
            self.counts["repeat"] += 1
        return self._body(group)


# ---------------------------------------------------------------------------- generator


@dataclass
class Phase:
    rate: float  # requests/s, all workers together
    seconds: float
    measured: bool


@dataclass
class WorkerSpec:
    index: int
    workers: int
    url: str
    mode: str  # "closed" | "open" | "count"
    concurrency: int = 1  # closed, count: this worker's share
    duration: float = 0.0  # closed
    phases: list[Phase] = field(default_factory=list)  # open
    requests: int = 0  # count: this worker's share
    only_new: bool = False
    seed: int = 0
    timeout: float = 10.0  # Alertmanager cancels a webhook after 10 s
    connections: int = 4096  # open: connector bound of this worker


@dataclass
class WorkerResult:
    latencies: bytes = b""  # array('d') of seconds, measured requests only
    lags: bytes = b""  # open: how late the generator started each request
    statuses: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    ok_alerts: int = 0
    cpu_seconds: float = 0.0
    mix: dict[str, int] = field(default_factory=dict)
    last_done: float = 0.0  # monotonic time of the last measured answer
    error: str = ""


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Recorder:
    def __init__(self) -> None:
        self.latencies = array("d")
        self.lags = array("d")
        self.statuses: Counter[str] = Counter()
        self.cpu_start = 0.0
        self.cpu_end: float | None = None
        self.last_done = 0.0

    def add(self, status: str, latency: float) -> None:
        self.statuses[status] += 1
        self.latencies.append(latency)
        self.last_done = time.monotonic()

    def start_cpu(self) -> None:
        self.cpu_start = _cpu_self()

    def stop_cpu(self) -> None:
        if self.cpu_end is None:
            self.cpu_end = _cpu_self()


async def _closed(
    spec: WorkerSpec, client: Client, payloads: Payloads, start_at: float
) -> _Recorder:
    """`concurrency` senders, each posting as soon as its previous answer arrived."""
    rec = _Recorder()
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, start_at - loop.time()))
    rec.start_cpu()
    end_at = start_at + spec.duration if spec.mode == "closed" else float("inf")
    remaining = [spec.requests]

    async def sender() -> None:
        while loop.time() < end_at:
            if spec.mode == "count":
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            body = payloads.next_body()
            started = time.monotonic()
            status = await client.post(body)
            rec.add(status, time.monotonic() - started)

    await asyncio.gather(*(sender() for _ in range(spec.concurrency)))
    rec.stop_cpu()
    return rec


def _schedule(spec: WorkerSpec, start_at: float) -> Iterator[tuple[float, bool]]:
    """This worker's share of the global schedule: request k of a phase at
    phase_start + k / rate, worker i taking every i-th slot."""
    t = start_at
    for phase in spec.phases:
        if phase.rate > 0:
            interval = 1.0 / phase.rate
            total = round(phase.seconds * phase.rate)
            for k in range(spec.index, total, spec.workers):
                yield t + k * interval, phase.measured
        t += phase.seconds


async def _open(spec: WorkerSpec, client: Client, payloads: Payloads, start_at: float) -> _Recorder:
    """Open loop: each request starts at its scheduled time whatever the answers do, and
    its latency counts from that time (queueing in the generator or the bot included)."""
    rec = _Recorder()
    loop = asyncio.get_running_loop()
    measured_from = start_at + sum(p.seconds for p in spec.phases[: _first_measured(spec)])
    measured_to = measured_from + sum(p.seconds for p in spec.phases if p.measured)
    loop.call_at(measured_from, rec.start_cpu)
    loop.call_at(measured_to, rec.stop_cpu)
    inflight: set[asyncio.Task[None]] = set()
    backlog_limit = max(1000, 40_000 // spec.workers)  # then requests count as not sent

    async def one(at: float, measured: bool) -> None:
        lag = time.monotonic() - at
        status = await client.post(payloads.next_body())
        if measured:
            rec.add(status, time.monotonic() - at)
            rec.lags.append(lag)

    for at, measured in _schedule(spec, start_at):
        delay = at - loop.time()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        if len(inflight) >= backlog_limit:
            if measured:
                rec.statuses["not_sent_backlog"] += 1
            continue
        task = asyncio.create_task(one(at, measured))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    if inflight:
        await asyncio.gather(*inflight)
    rec.stop_cpu()
    return rec


def _first_measured(spec: WorkerSpec) -> int:
    for i, phase in enumerate(spec.phases):
        if phase.measured:
            return i
    return len(spec.phases)


async def _worker(spec: WorkerSpec, conn: Connection) -> WorkerResult:
    payloads = Payloads(spec.index, spec.seed, only_new=spec.only_new)
    limit = spec.connections if spec.mode == "open" else spec.concurrency
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
        "User-Agent": "Alertmanager/0.25.0",
    }
    client = Client(spec.url, headers, limit, spec.timeout)
    try:
        conn.send("ready")
        start_at = float(conn.recv())  # blocks the loop on purpose: nothing runs yet
        if spec.mode == "open":
            rec = await _open(spec, client, payloads, start_at)
        else:
            rec = await _closed(spec, client, payloads, start_at)
    finally:
        client.close()
    cpu_end = rec.cpu_end if rec.cpu_end is not None else _cpu_self()
    return WorkerResult(
        latencies=rec.latencies.tobytes(),
        lags=rec.lags.tobytes(),
        statuses=dict(rec.statuses),
        requests=len(rec.latencies),
        ok_alerts=rec.statuses.get("200", 0) * ALERTS_PER_REQUEST,
        cpu_seconds=cpu_end - rec.cpu_start,
        mix=dict(payloads.counts),
        last_done=rec.last_done,
    )


def _worker_main(spec: WorkerSpec, conn: Connection) -> None:
    try:
        result = asyncio.run(_worker(spec, conn))
    except Exception as exc:  # report it to the parent instead of hanging it
        result = WorkerResult(error=f"{type(exc).__name__}: {exc}")
    conn.send(result)
    conn.close()


# ---------------------------------------------------------------------------- the bot


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_available() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=0.5):
            return True
    except OSError:
        return False


def _pg_admin(statement: str) -> None:
    import psycopg  # a dependency of the bot; only needed with PostgreSQL

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


class Database:
    """A fresh database per bot: a temp SQLite file, or a throwaway PostgreSQL database."""

    def __init__(self, backend: str, workdir: Path, name: str) -> None:
        self.backend = backend
        self.name = f"pagerbot_bench_{os.getpid()}_{name}".replace("-", "_")
        if backend == "sqlite":
            self.url = f"sqlite:///{workdir / (self.name + '.db')}"
        else:
            _pg_admin(f"CREATE DATABASE {self.name}")
            self.url = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{self.name}"

    def scalar(self, query: str) -> Any:
        if self.backend == "sqlite":
            import sqlite3

            with contextlib.closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as db:
                return db.execute(query).fetchone()[0]
        import psycopg

        with psycopg.connect(self.url) as conn:
            row = conn.execute(query).fetchone()
            return row[0] if row else None

    def size_bytes(self) -> int:
        if self.backend == "sqlite":
            path = Path(self.url.removeprefix("sqlite:///"))
            return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        return int(self.scalar(f"SELECT pg_database_size('{self.name}')"))

    def drop(self) -> None:
        if self.backend == "postgres":
            _pg_admin(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def _pagerbot_command() -> list[str]:
    script = Path(sys.executable).with_name("pagerbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


class Bot:
    """`pagerbot serve` as a subprocess; stdout (the console chat sink) and logs to files."""

    def __init__(
        self, config: Path, db: Database, workdir: Path, label: str, src: Path | None = None
    ) -> None:
        self.label = label
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{label}.log"
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env["PAGERBOT_WEBHOOK_TOKEN"] = TOKEN
        env.pop("PAGERBOT_DATABASE_URL", None)
        if src is not None:  # run another checkout of the bot (e.g. `git archive` of a commit)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
        cmd = [
            *_pagerbot_command(),
            "serve",
            "--config",
            str(config),
            "--database",
            db.url,
            "--port",
            str(self.port),
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.started = time.monotonic()
        self.pid = self.proc.pid

    def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pagerbot exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"pagerbot not ready within {within:.0f}s; see {self.log}")

    def _tree(self) -> list[int]:
        """The bot and its descendants (the ingest process)."""
        pids, i = [self.pid], 0
        while i < len(pids):
            # Children are listed per thread: the ingest process is the writer thread's.
            for children in Path(f"/proc/{pids[i]}/task").glob("*/children"):
                with contextlib.suppress(OSError):
                    pids.extend(int(c) for c in children.read_text().split())
            i += 1
        return pids

    def cpu_seconds(self) -> tuple[float, float, float]:
        """(utime, stime) of the bot and its processes (all their threads), in seconds;
        children that ended count through cutime/cstime; and the bot's main process's
        own utime + stime: the process whose GIL the event loop shares, which can use
        one core at most."""
        user = system = main = 0.0
        for pid in self._tree():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            user += (int(fields[11]) + int(fields[13])) / CLK_TCK
            system += (int(fields[12]) + int(fields[14])) / CLK_TCK
            if pid == self.pid:
                main = (int(fields[11]) + int(fields[12])) / CLK_TCK
        return user, system, main

    def memory(self) -> dict[str, float]:
        """In MB, summed over the bot's processes: VmRSS (now), VmHWM (peak; the sum of
        the peaks is an upper bound, as they need not coincide) and Pss (now: pages
        shared between the processes counted once, split between them)."""
        out: dict[str, float] = {"VmRSS": 0.0, "VmHWM": 0.0, "Pss": 0.0, "processes": 0}
        for pid in self._tree():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            out["processes"] += 1
            for line in (*status.splitlines(), *rollup.splitlines()):
                key, _, value = line.partition(":")
                if key in out and key != "processes":
                    out[key] += int(value.split()[0]) / 1024
        return out

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def responsive_after(self, within: float = 180.0) -> float:
        """Seconds until /healthz answers within 0.1 s again (after an overload, the bot
        may still be working through requests whose senders already gave up)."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            t = time.monotonic()
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=within) as resp:
                    resp.read()
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
                continue
            if time.monotonic() - t < 0.1:
                break
            time.sleep(0.1)
        return time.monotonic() - started

    def metrics(self) -> dict[str, float]:
        """A few of the bot's own metrics: batch sizes, commit time, verdicts ({} if the
        bot does not answer within a minute)."""
        try:
            with urllib.request.urlopen(f"{self.url}/metrics", timeout=60) as resp:
                text = resp.read().decode()
        except (urllib.error.URLError, OSError) as exc:
            print(f"  (metrics unavailable: {exc})", flush=True)
            return {}
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                name = sample.name
                if name in (
                    "pagerbot_store_batch_alerts_sum",
                    "pagerbot_store_batch_alerts_count",
                    "pagerbot_store_commit_seconds_sum",
                    "pagerbot_store_commit_seconds_count",
                    "pagerbot_incidents_opened_total",
                ):
                    out[name] = sample.value
                elif name == "pagerbot_alerts_processed_total":
                    out[f"verdict_{sample.labels['verdict']}"] = sample.value
                elif name == "pagerbot_chat_deliveries_total":
                    out[f"chat_{sample.labels['outcome']}"] = sample.value
                elif name.startswith("pagerbot_http_request_duration_seconds_") and (
                    sample.labels.get("path") == "/webhooks/alertmanager"
                ):
                    # the bot's own view: from the handler's start, after any queueing
                    kind = name.rsplit("_", 1)[1]
                    if kind in ("sum", "count"):
                        out[f"server_{kind}"] = out.get(f"server_{kind}", 0.0) + sample.value
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def running_bot(config: Path, db: Database, workdir: Path, label: str) -> Iterator[Bot]:
    bot = Bot(config, db, workdir, label, BOT_SRC[0])
    try:
        bot.wait_ready()
        yield bot
    finally:
        bot.stop()


def postgres_cpu() -> float:
    """utime + stime of every PostgreSQL server process, in seconds (0 if none)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        if text[text.index("(") + 1 : text.rindex(")")] != "postgres":
            continue
        fields = text[text.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def wait_quiet(max_busy: float, within: float) -> float:
    """Wait (up to `within` s) for a second in which the machine is at most `max_busy`
    busy (fraction of all cores); returns the last measured busy fraction."""
    deadline = time.monotonic() + within
    while True:
        b0 = machine_busy()
        time.sleep(1.0)
        b1 = machine_busy()
        busy = (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
        if busy <= max_busy or time.monotonic() >= deadline:
            return busy


def machine_busy() -> tuple[float, float, float]:
    """(busy, total, steal) jiffies of all CPUs, from /proc/stat. Steal is time the
    hypervisor gave to other guests: on a shared host it makes runs noisy, so it is
    counted apart from what ran here."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle, steal = parts[3] + parts[4], parts[7]
    total = sum(parts[:8])
    return total - idle - steal, total, steal


# ---------------------------------------------------------------------------- runs


@dataclass
class LoadResult:
    seconds: float  # the measured window
    answered_seconds: float  # from the window's start to the last answer
    requests: int
    ok_alerts: int
    statuses: dict[str, int]
    latencies: list[float]
    lags: list[float]
    gen_cpu: float  # seconds, all generator processes
    bot_cpu: float  # seconds, user + system
    bot_sys: float  # seconds, system (kernel: sockets, fsync)
    bot_main: float  # seconds, the main process alone (event loop and its threads)
    db_cpu: float  # seconds, PostgreSQL server processes (SQLite runs inside the bot)
    machine_busy: float  # fraction of all cores
    steal: float  # fraction of all cores taken by the hypervisor for other guests
    mix: dict[str, int]
    metrics: dict[str, float]

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))  # nearest rank
    return values[index]


def _diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


def _profile(bot: Bot, label: str, seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy over the bot for the measured window (with --profile DIR), as collapsed
    stacks (one line per stack, samples last) and, for reading, a flame graph."""
    folder = PROFILE[0]
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if folder is None or not Path(spy).exists():
        return None
    name = label.replace(" ", "_").replace("/", "_").replace("=", "")
    cmd = [spy, "record", "--pid", str(bot.pid), "--rate", "200", "--threads", "--format", "raw"]
    cmd += ["--output", str(folder / f"{name}.txt"), "--nonblocking"]
    if seconds:
        cmd += ["--duration", str(max(1, round(seconds)))]
    if PROFILE_GIL[0]:
        cmd.append("--gil")  # only samples holding the GIL: where the CPU goes
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_load(
    bot: Bot,
    specs: list[WorkerSpec],
    measured: tuple[float, float] | None,
    label: str = "",
    finish_within: float = 600.0,
) -> LoadResult:
    """Run the workers (one process each) from a common start; `measured` is the
    (offset, length) of the measured window from the start, None for until all done.
    Every worker stops by itself; `finish_within` only guards against a hung one."""
    ctx = mp.get_context("spawn")
    pipes: list[Connection] = []
    procs = []
    for spec in specs:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, args=(spec, child), daemon=True)
        proc.start()
        child.close()
        pipes.append(parent)
        procs.append(proc)
    try:
        for pipe in pipes:
            if not pipe.poll(60):
                raise RuntimeError("a load generator worker did not start")
            msg = pipe.recv()
            if msg != "ready":
                raise RuntimeError(f"load generator worker failed: {msg}")
        start_at = time.monotonic() + 0.3
        for pipe in pipes:
            pipe.send(start_at)
        offset, length = measured if measured is not None else (0.0, 0.0)
        time.sleep(max(0.0, start_at + offset - time.monotonic()))
        t0, cpu0, busy0, pg0 = time.monotonic(), bot.cpu_seconds(), machine_busy(), postgres_cpu()
        before_metrics = bot.metrics()
        profiler = _profile(bot, label, length if measured is not None else 0.0)
        if measured is not None:
            time.sleep(max(0.0, start_at + offset + length - time.monotonic()))
            t1, cpu1, busy1, pg1 = (
                time.monotonic(),
                bot.cpu_seconds(),
                machine_busy(),
                postgres_cpu(),
            )
        results: list[WorkerResult] = []
        for pipe in pipes:
            if not pipe.poll(finish_within):
                raise RuntimeError("a load generator worker did not finish")
            results.append(pipe.recv())
        if measured is None:
            t1, cpu1, busy1, pg1 = (
                time.monotonic(),
                bot.cpu_seconds(),
                machine_busy(),
                postgres_cpu(),
            )
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            profiler.wait(timeout=60)
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"load generator failed: {errors[0]}")
    latencies: list[float] = []
    lags: list[float] = []
    statuses: Counter[str] = Counter()
    mix: Counter[str] = Counter()
    for r in results:
        lat = array("d")
        lat.frombytes(r.latencies)
        latencies.extend(lat)
        lag = array("d")
        lag.frombytes(r.lags)
        lags.extend(lag)
        statuses.update(r.statuses)
        mix.update(r.mix)
    latencies.sort()
    lags.sort()
    jiffies = max(1, busy1[1] - busy0[1])
    busy, steal = (busy1[0] - busy0[0]) / jiffies, (busy1[2] - busy0[2]) / jiffies
    last_done = max((r.last_done for r in results), default=t1)
    return LoadResult(
        seconds=t1 - t0,
        answered_seconds=max(t1, last_done) - t0,
        requests=sum(r.requests for r in results),
        ok_alerts=sum(r.ok_alerts for r in results),
        statuses=dict(statuses),
        latencies=latencies,
        lags=lags,
        gen_cpu=sum(r.cpu_seconds for r in results),
        bot_cpu=cpu1[0] + cpu1[1] - cpu0[0] - cpu0[1],
        bot_sys=cpu1[1] - cpu0[1],
        bot_main=cpu1[2] - cpu0[2],
        db_cpu=pg1 - pg0,
        machine_busy=busy,
        steal=steal,
        mix=dict(mix),
        metrics=_diff(bot.metrics(), before_metrics),
    )


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def closed_loop(
    bot: Bot, concurrency: int, seconds: float, workers: int, seed: int, only_new: bool = False
) -> LoadResult:
    n = max(1, min(workers, concurrency))
    specs = [
        WorkerSpec(
            index=i,
            workers=n,
            url=f"{bot.url}/webhooks/alertmanager",
            mode="closed",
            concurrency=c,
            duration=seconds,
            only_new=only_new,
            seed=seed * 1000 + i,
        )
        for i, c in enumerate(_split(concurrency, n))
    ]
    return run_load(bot, specs, (0.0, seconds), f"{bot.label} closed c={concurrency}")


def count_load(bot: Bot, requests: int, concurrency: int, workers: int, seed: int) -> LoadResult:
    """Exactly `requests` requests of new groups only (distinct firing alerts)."""
    n = max(1, min(workers, concurrency))
    specs = [
        WorkerSpec(
            index=i,
            workers=n,
            url=f"{bot.url}/webhooks/alertmanager",
            mode="count",
            concurrency=c,
            requests=r,
            only_new=True,
            seed=seed * 1000 + i,
        )
        for i, (c, r) in enumerate(zip(_split(concurrency, n), _split(requests, n), strict=True))
    ]
    return run_load(bot, specs, None, f"{bot.label} load")


def open_loop(bot: Bot, phases: list[Phase], workers: int, seed: int) -> LoadResult:
    specs = [
        WorkerSpec(
            index=i,
            workers=workers,
            url=f"{bot.url}/webhooks/alertmanager",
            mode="open",
            phases=phases,
            # Alertmanager opens a connection per concurrent notification (no pool limit).
            connections=max(64, 4096 // workers),
            seed=seed * 1000 + i,
        )
        for i in range(workers)
    ]
    first = next(i for i, p in enumerate(phases) if p.measured)
    offset = sum(p.seconds for p in phases[:first])
    length = sum(p.seconds for p in phases if p.measured)
    label = f"{bot.label} open {phases[first].rate * ALERTS_PER_REQUEST:.0f}"
    return run_load(bot, specs, (offset, length), label)


# ---------------------------------------------------------------------------- report


@dataclass
class Row:
    backend: str
    scenario: str
    values: dict[str, Any]


def _ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.1f}"


def _errors(statuses: dict[str, int]) -> str:
    bad = {k: v for k, v in sorted(statuses.items()) if k != "200"}
    return ", ".join(f"{k}:{v}" for k, v in bad.items()) or "0"


def load_row(backend: str, scenario: str, res: LoadResult, **extra: Any) -> Row:
    seconds = max(res.seconds, 1e-9)
    answered = max(res.answered_seconds, 1e-9)
    metrics = res.metrics
    batches = metrics.get("pagerbot_store_batch_alerts_count", 0.0)
    values = {
        "requests": res.requests,
        "req_per_s": res.requests / answered,
        "alerts_per_s": res.ok_alerts / answered,  # answered 200, per second
        "p50_ms": res.pct(50) * 1000,
        "p99_ms": res.pct(99) * 1000,
        "p999_ms": res.pct(99.9) * 1000,
        "max_ms": (res.latencies[-1] if res.latencies else float("nan")) * 1000,
        "errors": _errors(res.statuses),
        "status_5xx": sum(v for k, v in res.statuses.items() if k.startswith("5")),
        "non_200": sum(v for k, v in res.statuses.items() if k != "200"),
        "failed_other": sum(v for k, v in res.statuses.items() if not k.isdigit()),
        "bot_cpu_pct": 100 * res.bot_cpu / seconds,
        "bot_sys_pct": 100 * res.bot_sys / seconds,
        "bot_main_pct": 100 * res.bot_main / seconds,
        "chat_deliveries": int(sum(v for k, v in metrics.items() if k.startswith("chat_"))),
        "gen_cpu_pct": 100 * res.gen_cpu / seconds,
        "machine_busy_pct": 100 * res.machine_busy * NCPU,
        # whatever else ran: kernel work not charged to a process, other programs
        "db_cpu_pct": 100 * res.db_cpu / seconds,
        "other_cpu_pct": 100 * res.machine_busy * NCPU
        - 100 * (res.bot_cpu + res.gen_cpu + res.db_cpu) / seconds,
        "steal_pct": 100 * res.steal * NCPU,
        "gen_lag_p99_ms": percentile(res.lags, 99) * 1000 if res.lags else float("nan"),
        "batch_alerts_avg": metrics.get("pagerbot_store_batch_alerts_sum", 0.0) / batches
        if batches
        else float("nan"),
        "commit_ms_avg": 1000 * metrics.get("pagerbot_store_commit_seconds_sum", 0.0) / batches
        if batches
        else float("nan"),
        "verdicts": {k[8:]: int(v) for k, v in metrics.items() if k.startswith("verdict_")},
        "incidents_opened": int(metrics.get("pagerbot_incidents_opened_total", 0)),
        "client_mean_ms": 1000 * sum(res.latencies) / len(res.latencies)
        if res.latencies
        else float("nan"),
        "server_mean_ms": 1000 * metrics.get("server_sum", 0.0) / metrics["server_count"]
        if metrics.get("server_count")
        else float("nan"),
        "mix": res.mix,
        "seconds": res.seconds,
        **extra,
    }
    return Row(backend, scenario, values)


def progress(row: Row) -> None:
    v = row.values
    after = v.get("responsive_after_s")
    tail = f"; bot responsive again {after:.1f} s later" if after is not None else ""
    print(
        f"[{row.backend}] {row.scenario}: {v['alerts_per_s']:,.0f} alerts/s, p50 "
        f"{v['p50_ms']:.1f} ms, p99 {v['p99_ms']:.1f} ms, non-200 {v['errors']}; CPU bot "
        f"{v['bot_cpu_pct']:.0f}%, generator {v['gen_cpu_pct']:.0f}%, other "
        f"{v['other_cpu_pct']:.0f}%, steal {v['steal_pct']:.0f}%{tail}",
        flush=True,
    )


def print_load_table(rows: list[Row]) -> None:
    loads = [r for r in rows if "alerts_per_s" in r.values]
    head = (
        f"{'backend':<9}{'scenario':<18}{'alerts/s':>9}{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'p99.9':>8}{'max ms':>8}  non-200 answers"
    )
    print(head)
    print("-" * len(head))
    for row in loads:
        v = row.values
        print(
            f"{row.backend:<9}{row.scenario:<18}{v['alerts_per_s']:>9,.0f}{v['req_per_s']:>7,.0f}"
            f"{v['p50_ms']:>8.1f}{v['p99_ms']:>8.1f}{v['p999_ms']:>8.1f}{v['max_ms']:>8.0f}  "
            f"{v['errors']}"
        )
    print(
        "alerts/s, req/s: answered 200, from the window's start to the last answer; latency: "
        "closed loop from send, open loop from the scheduled send time"
    )
    print()
    head = (
        f"{'backend':<9}{'scenario':<18}{'bot CPU':>8}{'(sys)':>6}{'(main)':>7}{'PG CPU':>7}"
        f"{'gen CPU':>8}"
        f"{'machine':>8}{'other':>7}{'steal':>7}"
        f"{'gen lag':>9}{'mean':>9}{'(srv)':>8}{'batch':>7}{'commit':>7}{'opened':>7}{'chat':>6}"
        "  verdicts"
    )
    print(head)
    print("-" * len(head))
    for row in loads:
        v = row.values
        lag = v["gen_lag_p99_ms"]
        verdicts = " ".join(f"{k}={n}" for k, n in sorted(v["verdicts"].items()))
        print(
            f"{row.backend:<9}{row.scenario:<18}{v['bot_cpu_pct']:>7.0f}%{v['bot_sys_pct']:>5.0f}%"
            f"{v['bot_main_pct']:>6.0f}%{v['db_cpu_pct']:>6.0f}%"
            f"{v['gen_cpu_pct']:>7.0f}%{v['machine_busy_pct']:>7.0f}%{v['other_cpu_pct']:>6.0f}%"
            f"{v['steal_pct']:>6.0f}%"
            f"{'-' if lag != lag else f'{lag:.1f}':>9}{v['client_mean_ms']:>9.1f}"
            f"{v['server_mean_ms']:>8.1f}{v['batch_alerts_avg']:>7.0f}"
            f"{v['commit_ms_avg']:>7.1f}{v['incidents_opened']:>7}{v['chat_deliveries']:>6}  "
            f"{verdicts}"
        )
    print(
        f"CPU in % of one core ({NCPU} cores = {NCPU * 100}%): the bot's processes (their "
        "kernel share; the main process alone, which one GIL keeps to one core), "
        "PostgreSQL's server processes, all load-generator processes, the whole "
        "machine, the rest\n(other programs, kernel work charged to no process: near 0 "
        "in a clean run), and steal (CPU the hypervisor gave to other guests: a run with "
        "much steal measures low). gen lag: p99 of how late the generator started a "
        "scheduled request (open loop;\nhigh = generator-bound). mean: mean latency seen by "
        "the generator, and "
        "(srv) by the bot's own metric, which starts at its handler: the gap is queueing before "
        "the handler.\nbatch: alerts per group commit; commit: ms per "
        "batch (plan + write + commit); opened: incidents opened; "
        "chat: outbox deliveries made by the bot in the window"
    )


def print_memory(rows: list[Row]) -> None:
    for row in rows:
        if row.scenario != "memory":
            continue
        v = row.values
        print(
            f"{row.backend:<9}memory: {v['alerts']:,} distinct firing alerts loaded in "
            f"{v['load_seconds']:.1f} s ({v['load_alerts_per_s']:,.0f} alerts/s, "
            f"{v['load_errors']} non-200); stored firing alerts: {v['stored_firing']:,}; "
            f"database {v['db_mb']:.0f} MB"
        )
        for stage in ("after_load", "after_idle", "after_restart"):
            mem = v.get(stage)
            if mem:
                print(
                    f"{'':<9}  {stage.replace('_', ' '):<14} RSS {mem['VmRSS']:>6.0f} MB   "
                    f"peak (VmHWM) {mem['VmHWM']:>6.0f} MB   PSS {mem.get('Pss', 0):>6.0f} MB   "
                    f"{mem.get('processes', 1):.0f} processes   {mem.get('note', '')}"
                )


TARGETS = {
    "closed": 20_000.0,  # alerts/s sustained
    "constant_p99_ms": 25.0,
    "burst_5xx": 0,
    "rss_mb": 250.0,
}


def print_targets(rows: list[Row]) -> None:
    backends = sorted({r.backend for r in rows}, key=lambda b: b != "sqlite")
    for backend in backends:
        mine = [r for r in rows if r.backend == backend]
        closed = [r for r in mine if r.scenario.startswith("closed")]
        best = max(closed, key=lambda r: r.values["alerts_per_s"], default=None)
        lines = []
        if best is not None:
            got = best.values["alerts_per_s"]
            ok = got >= TARGETS["closed"]
            lines.append(
                f"sustained ≥ 20,000 alerts/s: {got:,.0f} at {best.scenario} "
                f"{'PASS' if ok else 'MISS'}"
            )
        for row in mine:
            v = row.values
            if row.scenario.startswith("constant"):
                p99 = v["p99_ms"]
                ok = p99 <= TARGETS["constant_p99_ms"] and v["non_200"] == 0
                lines.append(
                    f"p99 ≤ 25 ms at {v['target_alerts_per_s']:,.0f} alerts/s: p99 {p99:.1f} ms "
                    f"(achieved {v['alerts_per_s']:,.0f}/s, {v['non_200']} non-200) "
                    f"{'PASS' if ok else 'MISS'}"
                )
            if row.scenario.startswith("burst"):
                # A request Alertmanager gives up on (10 s) is retried like a 5xx: a miss too.
                failed = v["status_5xx"] + v["failed_other"]
                lines.append(
                    f"no 5xx in {v['target_alerts_per_s']:,.0f} alerts/s burst: "
                    f"{v['status_5xx']} 5xx, {v['failed_other']} timed out, failed to connect "
                    "or not sent "
                    f"(of {v['requests']:,} requests), p99 {v['p99_ms']:.0f} ms "
                    f"{'PASS' if failed == 0 else 'MISS'}"
                )
            if row.scenario == "memory":
                # PSS: the bot is several processes, and summed RSS counts the pages they
                # share once per process.
                stages = [v[s] for s in ("after_load", "after_idle", "after_restart") if v.get(s)]
                pss = max(m.get("Pss", m["VmHWM"]) for m in stages)
                rss = max(m["VmHWM"] for m in stages)
                ok = pss <= TARGETS["rss_mb"]
                lines.append(
                    f"≤ 250 MB with {v['alerts']:,} active alerts: PSS {pss:.0f} MB "
                    f"(summed RSS peaks {rss:.0f} MB) {'PASS' if ok else 'MISS'}"
                )
        print(f"{backend} targets:")
        for line in lines:
            print(f"  {line}")


# ---------------------------------------------------------------------------- main


@dataclass
class Plan:
    concurrencies: list[int]
    closed_seconds: float
    warmup_seconds: float
    rates: list[float]  # alerts/s, constant runs
    rate_seconds: float
    burst_rate: float
    burst_lead_rate: float  # alerts/s before the burst
    burst_seconds: float
    memory_alerts: int
    memory_idle_seconds: float
    memory_uptime: float  # idle until the bot has been up this long
    workers: int
    open_workers: int
    burst_workers: int


def backend_run(backend: str, plan: Plan, args: argparse.Namespace, workdir: Path) -> list[Row]:
    rows: list[Row] = []
    scenarios = set(args.scenarios.split(","))
    config = Path(args.config)
    seed = args.seed

    def fresh(name: str) -> Database:
        return Database(backend, workdir, name)

    if "closed" in scenarios:
        db = fresh("closed")
        try:
            with running_bot(config, db, workdir, f"{backend}-closed") as bot:
                print(f"[{backend}] closed loop, warm-up {plan.warmup_seconds:g} s", flush=True)
                closed_loop(bot, 8, plan.warmup_seconds, plan.workers, seed)
                for c in plan.concurrencies:
                    seed += 1
                    res = closed_loop(bot, c, plan.closed_seconds, plan.workers, seed)
                    row = load_row(backend, f"closed c={c}", res, workers=min(plan.workers, c))
                    rows.append(row)
                    progress(row)
        finally:
            db.drop()
    if scenarios & {"constant", "burst"}:
        db = fresh("rate")
        try:
            with running_bot(config, db, workdir, f"{backend}-rate") as bot:
                for alerts_per_s in sorted(plan.rates) if "constant" in scenarios else []:
                    rate = alerts_per_s / ALERTS_PER_REQUEST
                    warm = Phase(rate, plan.warmup_seconds, False)
                    run = Phase(rate, plan.rate_seconds, True)
                    print(
                        f"[{backend}] constant {alerts_per_s:,.0f} alerts/s for "
                        f"{plan.rate_seconds:.0f} s",
                        flush=True,
                    )
                    seed += 1
                    res = open_loop(bot, [warm, run], plan.open_workers, seed)
                    row = load_row(
                        backend,
                        f"constant {alerts_per_s / 1000:g}k/s",
                        res,
                        target_alerts_per_s=alerts_per_s,
                        workers=plan.open_workers,
                        responsive_after_s=bot.responsive_after(),
                    )
                    rows.append(row)
                    progress(row)
                if "burst" in scenarios:
                    # A storm hits a bot that is busy with ordinary traffic.
                    lead = Phase(
                        plan.burst_lead_rate / ALERTS_PER_REQUEST, plan.warmup_seconds, False
                    )
                    burst = Phase(plan.burst_rate / ALERTS_PER_REQUEST, plan.burst_seconds, True)
                    print(
                        f"[{backend}] burst {plan.burst_rate:,.0f} alerts/s for "
                        f"{plan.burst_seconds:.0f} s",
                        flush=True,
                    )
                    seed += 1
                    res = open_loop(bot, [lead, burst], plan.burst_workers, seed)
                    row = load_row(
                        backend,
                        f"burst {plan.burst_rate / 1000:g}k/s",
                        res,
                        target_alerts_per_s=plan.burst_rate,
                        workers=plan.burst_workers,
                        responsive_after_s=bot.responsive_after(),
                    )
                    rows.append(row)
                    progress(row)
        finally:
            db.drop()
    if "memory" in scenarios:
        rows.append(memory_run(backend, plan, config, fresh("memory"), workdir, seed + 100))
    return rows


def memory_run(
    backend: str, plan: Plan, config: Path, db: Database, workdir: Path, seed: int
) -> Row:
    requests = plan.memory_alerts // ALERTS_PER_REQUEST
    values: dict[str, Any] = {"alerts": requests * ALERTS_PER_REQUEST}
    print(f"[{backend}] memory: loading {values['alerts']:,} distinct firing alerts", flush=True)
    try:
        with running_bot(config, db, workdir, f"{backend}-memory") as bot:
            values["at_start"] = bot.memory()
            res = count_load(bot, requests, 32, plan.workers, seed)
            values["load_seconds"] = res.answered_seconds
            values["load_alerts_per_s"] = res.ok_alerts / max(res.answered_seconds, 1e-9)
            values["load_errors"] = res.requests - res.statuses.get("200", 0)
            values["after_load"] = bot.memory()
            # Idle past the periodic jobs that touch every firing alert (remute every 10 s,
            # reload_inhibitions every 60 s after start) and the chat outbox backlog.
            # Idle until the bot has been up `memory_uptime` s, at least `memory_idle_seconds`.
            idle = max(plan.memory_idle_seconds, plan.memory_uptime - bot.uptime())
            time.sleep(idle)
            values["after_idle"] = {
                **bot.memory(),
                "note": f"after {idle:.0f} s idle, bot up {bot.uptime():.0f} s",
            }
            values["stored_firing"] = int(
                db.scalar(
                    "SELECT count(*) FROM alerts a JOIN incidents i ON i.id = a.incident_id "
                    "WHERE a.status = 'firing' AND i.state <> 'resolved'"
                )
            )
            values["incidents"] = int(db.scalar("SELECT count(*) FROM incidents"))
            values["outbox_pending"] = int(
                db.scalar("SELECT count(*) FROM outbox WHERE done_at IS NULL")
            )
        with running_bot(config, db, workdir, f"{backend}-memory-restart") as bot:
            values["restart_ready_seconds"] = bot.uptime()
            time.sleep(min(15.0, plan.memory_uptime))  # past the first remute (10 s)
            values["after_restart"] = {
                **bot.memory(),
                "note": "restarted on the same database, ready after "
                f"{values['restart_ready_seconds']:.1f} s",
            }
        values["db_mb"] = db.size_bytes() / 1e6
    finally:
        db.drop()
    return Row(backend, "memory", values)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    parser.add_argument(
        "--scenarios",
        default="closed,constant,burst,memory",
        help="comma-separated subset of closed,constant,burst,memory",
    )
    parser.add_argument("--concurrency", default="1,8,32,128", help="closed-loop concurrencies")
    parser.add_argument("--closed-seconds", type=float, default=10.0)
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument(
        "--rates",
        default="5000,10000",
        help="alerts/s of the constant-rate runs, comma-separated (the target is at 10000)",
    )
    parser.add_argument("--rate-seconds", type=float, default=20.0)
    parser.add_argument("--burst-rate", type=float, default=30_000.0, help="alerts/s")
    parser.add_argument(
        "--burst-lead-rate",
        type=float,
        default=2_000.0,
        help="alerts/s for --warmup-seconds before the burst (ordinary traffic)",
    )
    parser.add_argument("--burst-seconds", type=float, default=10.0)
    parser.add_argument("--memory-alerts", type=int, default=100_000)
    parser.add_argument(
        "--memory-idle-seconds", type=float, default=5.0, help="idle at least this long"
    )
    parser.add_argument(
        "--memory-uptime",
        type=float,
        default=75.0,
        help="after loading, idle until the bot has been up this long, so that the periodic "
        "jobs that read every firing alert (60 s, then 10 s) have run",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="load-generator processes for closed loops"
    )
    parser.add_argument(
        "--open-workers", type=int, default=1, help="load-generator processes, constant rate"
    )
    parser.add_argument(
        "--burst-workers", type=int, default=2, help="load-generator processes, burst"
    )
    parser.add_argument("--config", default=str(REPO), help="folder with rules/ (default: repo)")
    parser.add_argument(
        "--bot-src",
        metavar="DIR",
        help="run the bot from this source tree (PYTHONPATH) instead of the installed one",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be idle (< 10%% busy)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (bot logs)")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="record the bot with py-spy during every measured window (collapsed stacks)",
    )
    parser.add_argument(
        "--profile-gil", action="store_true", help="with --profile: only samples holding the GIL"
    )
    args = parser.parse_args()

    rates = [float(r) for r in args.rates.split(",")]
    plan = Plan(
        concurrencies=[int(c) for c in args.concurrency.split(",")],
        closed_seconds=args.closed_seconds,
        warmup_seconds=args.warmup_seconds,
        rates=rates,
        rate_seconds=args.rate_seconds,
        burst_rate=args.burst_rate,
        burst_lead_rate=args.burst_lead_rate,
        burst_seconds=args.burst_seconds,
        memory_alerts=args.memory_alerts,
        memory_idle_seconds=args.memory_idle_seconds,
        memory_uptime=args.memory_uptime,
        workers=args.workers,
        open_workers=args.open_workers,
        burst_workers=args.burst_workers,
    )
    if args.quick:  # a smoke test of the script, not a measurement: low rates, short runs
        plan.concurrencies = [1, 8]
        plan.closed_seconds = plan.rate_seconds = plan.burst_seconds = 1.0
        plan.warmup_seconds = 0.5
        plan.rates = [2_000.0]
        plan.burst_rate, plan.burst_lead_rate = 5_000.0, 1_000.0
        plan.memory_alerts = 1_000
        plan.memory_idle_seconds = 0.5
        plan.memory_uptime = 0.0

    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends and not pg_available():
        print(f"note: PostgreSQL on {PG_HOST}:{PG_PORT} does not answer; skipping it")
        backends.remove("postgres")

    if args.profile:
        folder = Path(args.profile).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        PROFILE[0] = folder
        PROFILE_GIL[0] = args.profile_gil
    if args.bot_src:
        BOT_SRC[0] = Path(args.bot_src).resolve()
    src = BOT_SRC[0] or REPO
    commit = subprocess.run(
        ["git", "-C", str(src), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(
        f"pagerbot ingest benchmark · {NCPU} CPUs · Python {sys.version.split()[0]} · "
        f"bot {src} (commit {commit or '?'}) · generator: {plan.workers} process(es) closed loop, "
        f"{plan.open_workers} constant rate, {plan.burst_workers} burst · "
        f"{ALERTS_PER_REQUEST} alerts/request"
    )
    busy = wait_quiet(0.10, args.wait_quiet)
    print(f"machine busy before the run: {busy * NCPU * 100:.0f}% of {NCPU * 100}%", end="")
    print(" (other programs are running: figures will be lower)" if busy > 0.10 else "")
    host_before = reference_ms()
    print(f"host speed: fixed reference work {host_before:.1f} ms (bench/_host.py; lower = faster)")
    workdir = Path(tempfile.mkdtemp(prefix="pagerbot-bench-"))
    rows: list[Row] = []
    started = time.monotonic()
    try:
        for backend in backends:
            rows.extend(backend_run(backend, plan, args, workdir))
    finally:
        if args.keep:
            print(f"bot logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print_load_table(rows)
    print()
    print_memory(rows)
    print()
    if args.quick:
        print("--quick: a smoke test of this script at low rates, not a measurement")
    print_targets(rows)
    print(
        f"\nhost speed: reference work {host_before:.1f} ms before the run, "
        f"{reference_ms():.1f} ms after (bench/_host.py)"
    )
    print(f"total {time.monotonic() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
