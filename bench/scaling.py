"""Does Dockyard's latency stay flat as a repository and the registry grow?

The issue: "manifest GET latency stays flat from 1,000 to 100,000 tags in a repository and from
100 to 10,000 repositories; a catalog page costs the same whatever the number of repositories."

One Dockyard (as ``make bench`` runs it: defaults, auth on, info logging) on a fresh data
directory. Phase 1 grows one repository's tags: one manifest, tagged N times through the API,
N = 1,000 / 10,000 / 100,000. Phase 2 grows the number of repositories (blobs mounted, one
manifest each), N = 100 / 1,000 / 10,000. At each size a small asyncio client measures, for a
fixed time at a fixed concurrency, the latency percentiles of:

* tags: manifest GET by tag (16 tags spread over the whole range), a tags-list page (n=100)
  starting in the middle;
* repositories: manifest GET by tag in 16 repositories spread over the range, the first
  catalog page (n=100) and a page from the middle.

Reads carry a Docker registry JWT (what docker and podman send); writes an API token.
Writes ``bench/results/scaling-latest.json`` and ``scaling-latest.md``.

    python bench/scaling.py [--quick] [--tag-sizes 1000,10000] [--repo-sizes 100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servers import (
    REPO_ROOT,
    BenchError,
    Dockyard,
    MemorySampler,
    dockyard_facts,
    log,
    machine_facts,
    stop_all,
    stop_on_sigterm,
    utc_now,
)

RESULTS_DIR = REPO_ROOT / "bench" / "results"
FULL_TAGS = (1_000, 10_000, 100_000)
FULL_REPOS = (100, 1_000, 10_000)
QUICK_TAGS = (1_000, 5_000)
QUICK_REPOS = (100, 1_000)
TAG_REPO = "scale/tags"
REPO_NAME = "scale-repos/r{:05d}"
SAMPLES = 16
"""Distinct tags or repositories a probe cycles through, spread over the whole range."""
PAGE = 100
GROWTH_FLAT = 1.5
"""p50 at the largest size over p50 at the smallest: above this the table says "grows"."""

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ACCEPT = f"{OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Image:
    config: bytes
    layer: bytes
    manifest: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": sha256(self.config),
                    "size": len(self.config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": sha256(self.layer),
                        "size": len(self.layer),
                    }
                ],
            },
            separators=(",", ":"),
        ).encode()


# ----------------------------------------------------------------------------- HTTP client
class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


class Connection:
    """A minimal keep-alive HTTP/1.1 client: little CPU per request, so it stays out of the
    way of a server on the same two cores (httpx costs several times more)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> Response:
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                return await self._exchange(method, path, headers, body)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Response:
        assert self.reader is not None and self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        data = b""
        if method != "HEAD" and status not in (204, 304):
            if "content-length" in fields:
                data = await self.reader.readexactly(int(fields["content-length"]))
            elif fields.get("transfer-encoding", "").lower() == "chunked":
                parts = []
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    parts.append(await self.reader.readexactly(size + 2))
                    if size == 0:
                        break
                data = b"".join(part[:-2] for part in parts)
        if fields.get("connection", "").lower() == "close":
            self.close()
        return Response(status, fields, data)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def pooled(
    host: str,
    port: int,
    conc: int,
    items: Iterable[int],
    job: Callable[[Connection, int], Awaitable[None]],
) -> None:
    """Run ``job`` over ``items`` with ``conc`` connections; the first failure stops all."""
    queue = iter(items)

    async def worker() -> None:
        conn = Connection(host, port)
        try:
            for item in queue:
                await job(conn, item)
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(conc)))


def expect(response: Response, statuses: tuple[int, ...], what: str) -> Response:
    if response.status not in statuses:
        raise BenchError(f"{what} -> {response.status}: {response.body[:300]!r}")
    return response


# ----------------------------------------------------------------------------- credentials
@dataclass
class Credentials:
    url: str
    api_token: str
    realm: str
    service: str

    @property
    def write_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"}

    def read_headers(self, scopes: list[str]) -> dict[str, str]:
        """A registry JWT for these scopes, fetched the way docker does (Basic, API token)."""
        query = urllib.parse.urlencode([("service", self.service), *(("scope", s) for s in scopes)])
        request = urllib.request.Request(f"{self.realm}?{query}")
        basic = base64.b64encode(f"bench:{self.api_token}".encode()).decode()
        request.add_header("Authorization", f"Basic {basic}")
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.loads(response.read())["token"]
        return {"Authorization": f"Bearer {token}", "Accept": ACCEPT}


def log_in(server: Dockyard) -> Credentials:
    """One password check (bcrypt) for an API token; the challenge gives the token realm."""
    api_token = server.api_token()
    try:
        urllib.request.urlopen(f"{server.url}/v2/", timeout=30).close()
        raise BenchError("dockyard answered /v2/ without credentials: is auth on?")
    except urllib.error.HTTPError as exc:
        challenge = exc.headers.get("WWW-Authenticate", "")
    params = dict(
        part.strip().split("=", 1) for part in challenge.split(" ", 1)[1].split(",") if "=" in part
    )
    realm, service = params["realm"].strip('"'), params.get("service", "").strip('"')
    return Credentials(server.url, api_token, realm, service)


# ----------------------------------------------------------------------------- population
class Registry:
    def __init__(self, server: Dockyard, creds: Credentials, fill_conc: int) -> None:
        split = urllib.parse.urlsplit(server.url)
        self.host, self.port = split.hostname or "127.0.0.1", split.port or 80
        self.creds = creds
        self.fill_conc = fill_conc
        self.image = Image(
            json.dumps(
                {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}
            ).encode(),
            hashlib.sha256(b"dockyard-scaling-layer").digest() * 64,
        )
        self.digest = sha256(self.image.manifest)
        self.tags = 0
        self.repos = 0

    async def push_base(self) -> None:
        conn = Connection(self.host, self.port)
        headers = self.creds.write_headers
        try:
            for blob in (self.image.config, self.image.layer):
                started = await conn.request("POST", f"/v2/{TAG_REPO}/blobs/uploads/", headers)
                location = expect(started, (202,), "start upload").headers["location"]
                location = urllib.parse.urlsplit(location)._replace(scheme="", netloc="").geturl()
                separator = "&" if "?" in location else "?"
                put = await conn.request(
                    "PUT",
                    f"{location}{separator}digest={sha256(blob)}",
                    {**headers, "Content-Type": "application/octet-stream"},
                    blob,
                )
                expect(put, (201,), "finish upload")
        finally:
            conn.close()

    async def grow_tags(self, size: int) -> float:
        """Tag the one manifest until the repository has ``size`` tags; tags/s."""
        headers = {**self.creds.write_headers, "Content-Type": OCI_MANIFEST}

        async def tag(conn: Connection, index: int) -> None:
            path = f"/v2/{TAG_REPO}/manifests/t{index:06d}"
            response = await conn.request("PUT", path, headers, self.image.manifest)
            expect(response, (201,), f"PUT {path}")

        began = time.perf_counter()
        await pooled(self.host, self.port, self.fill_conc, range(self.tags, size), tag)
        rate = (size - self.tags) / (time.perf_counter() - began)
        self.tags = size
        return rate

    async def grow_repos(self, size: int) -> float:
        """Create repositories (2 mounts, 1 manifest each) until there are ``size``; repos/s."""
        headers = self.creds.write_headers
        blobs = [sha256(self.image.config), sha256(self.image.layer)]

        async def create(conn: Connection, index: int) -> None:
            repo = REPO_NAME.format(index)
            for blob in blobs:
                path = f"/v2/{repo}/blobs/uploads/?mount={blob}&from={TAG_REPO}"
                expect(await conn.request("POST", path, headers), (201,), f"mount into {repo}")
            response = await conn.request(
                "PUT",
                f"/v2/{repo}/manifests/latest",
                {**headers, "Content-Type": OCI_MANIFEST},
                self.image.manifest,
            )
            expect(response, (201,), f"PUT {repo}:latest")

        began = time.perf_counter()
        await pooled(self.host, self.port, self.fill_conc, range(self.repos, size), create)
        rate = (size - self.repos) / (time.perf_counter() - began)
        self.repos = size
        return rate


# ----------------------------------------------------------------------------- measurement
def spread(size: int, count: int = SAMPLES) -> list[int]:
    """``count`` indices evenly spread over ``range(size)``, first and last included."""
    if size <= count:
        return list(range(size))
    return sorted({round(i * (size - 1) / (count - 1)) for i in range(count)})


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def measure(
    registry: Registry,
    paths: list[str],
    headers: dict[str, str],
    conc: int,
    duration: float,
    warmup: float,
) -> dict[str, Any]:
    """GET ``paths`` round robin from ``conc`` connections for ``duration`` s; latencies in ms."""
    latencies: list[float] = []
    errors: list[int] = []
    counter = [0]

    async def worker(deadline: float, record: bool) -> None:
        conn = Connection(registry.host, registry.port)
        try:
            while time.perf_counter() < deadline:
                path = paths[counter[0] % len(paths)]
                counter[0] += 1
                began = time.perf_counter()
                response = await conn.request("GET", path, headers)
                elapsed = time.perf_counter() - began
                if not record:
                    continue
                if response.status != 200:
                    errors.append(response.status)
                latencies.append(elapsed * 1e3)
        finally:
            conn.close()

    await asyncio.gather(*(worker(time.perf_counter() + warmup, False) for _ in range(conc)))
    began = time.perf_counter()
    await asyncio.gather(*(worker(began + duration, True) for _ in range(conc)))
    wall = time.perf_counter() - began
    latencies.sort()
    if not latencies:
        raise BenchError(f"no request completed for {paths[0]}")
    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p90_ms": round(percentile(latencies, 0.90), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "max_ms": round(latencies[-1], 3),
        "errors": len(errors),
        "error_statuses": sorted(set(errors)),
    }


@dataclass
class Probe:
    phase: str
    name: str
    paths: Callable[[int], list[str]]
    scopes: Callable[[int], list[str]]


PROBES = (
    Probe(
        "tags",
        "manifest GET by tag",
        lambda n: [f"/v2/{TAG_REPO}/manifests/t{i:06d}" for i in spread(n)],
        lambda n: [f"repository:{TAG_REPO}:pull"],
    ),
    Probe(
        "tags",
        f"tags list page (n={PAGE}, from the middle)",
        lambda n: [f"/v2/{TAG_REPO}/tags/list?n={PAGE}&last=t{n // 2:06d}"],
        lambda n: [f"repository:{TAG_REPO}:pull"],
    ),
    Probe(
        "repos",
        "manifest GET by tag",
        lambda n: [f"/v2/{REPO_NAME.format(i)}/manifests/latest" for i in spread(n)],
        lambda n: [f"repository:{REPO_NAME.format(i)}:pull" for i in spread(n)],
    ),
    Probe(
        "repos",
        f"catalog first page (n={PAGE})",
        lambda n: [f"/v2/_catalog?n={PAGE}"],
        lambda n: ["registry:catalog:*"],
    ),
    Probe(
        "repos",
        f"catalog page (n={PAGE}, from the middle)",
        lambda n: [f"/v2/_catalog?n={PAGE}&last={REPO_NAME.format(n // 2)}"],
        lambda n: ["registry:catalog:*"],
    ),
)


async def run_phases(args: argparse.Namespace, server: Dockyard) -> dict[str, Any]:
    creds = log_in(server)
    registry = Registry(server, creds, args.fill_conc)
    await registry.push_base()
    phases: dict[str, Any] = {"tags": [], "repos": []}
    for phase, sizes, grow in (
        ("tags", args.tag_sizes, registry.grow_tags),
        ("repos", args.repo_sizes, registry.grow_repos),
    ):
        for size in sizes:
            began = time.perf_counter()
            rate = await grow(size)
            log(f"{phase}: {size:,} ({rate:,.0f}/s, {time.perf_counter() - began:.0f} s)")
            row: dict[str, Any] = {"size": size, "fill_rate_per_s": round(rate, 1), "probes": {}}
            for probe in (p for p in PROBES if p.phase == phase):
                headers = creds.read_headers(probe.scopes(size))
                found = await measure(
                    registry, probe.paths(size), headers, args.conc, args.duration, args.warmup
                )
                row["probes"][probe.name] = found
                log(
                    f"  {probe.name}: p50 {found['p50_ms']:.2f} ms, p99 {found['p99_ms']:.2f} ms,"
                    f" {found['rps']:,.0f} req/s, {found['errors']} errors"
                )
            phases[phase].append(row)
    return phases


def growth(rows: list[dict[str, Any]], probe: str, key: str) -> float | None:
    if len(rows) < 2:
        return None
    first, last = rows[0]["probes"][probe][key], rows[-1]["probes"][probe][key]
    return round(last / first, 2) if first else None


def render(document: dict[str, Any]) -> str:
    machine = document["machine"]
    lines = [
        f"`bench/scaling.py{' --quick' if document['mode'] == 'quick' else ''}`, "
        f"{document['date']}: {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"Linux {machine['kernel']}, Python {machine['python']}; Dockyard "
        f"{document['dockyard']['version']}, {document['dockyard']['workers']} workers, "
        f"token auth. c={document['concurrency']}, {document['duration_s']} s per probe; "
        f"load average {machine['loadavg_at_start'][0]} at start.",
        "",
        "| phase | probe | " + " | ".join(["size", "fill/s", "p50 ms", "p99 ms", "req/s"]) + " |",
        "|---|---|---|---|---|---|---|",
    ]
    for phase in ("tags", "repos"):
        rows = document["phases"][phase]
        for probe in (p.name for p in PROBES if p.phase == phase):
            for row in rows:
                found = row["probes"][probe]
                lines.append(
                    f"| {phase} | {probe} | {row['size']:,} | {row['fill_rate_per_s']:,.0f} | "
                    f"{found['p50_ms']:.2f} | {found['p99_ms']:.2f} | {found['rps']:,.0f} |"
                )
    lines += ["", "| phase | probe | p50 largest / smallest | p99 largest / smallest | |"]
    lines.append("|---|---|---|---|---|")
    for item in document["growth"]:
        p50, p99 = item["p50"], item["p99"]
        verdict = "" if p50 is None else ("flat" if p50 <= GROWTH_FLAT else "**grows**")
        lines.append(f"| {item['phase']} | {item['probe']} | {p50} | {p99} | {verdict} |")
    lines += [
        "",
        f'"flat": p50 at the largest size at most {GROWTH_FLAT}x the smallest '
        "(single runs on a shared machine are noisy).",
        "",
    ]
    return "\n".join(lines)


def parse_sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(sorted(int(part.replace("_", "")) for part in text.split(",") if part))
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes are positive integers, comma separated")
    return sizes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter probes")
    parser.add_argument("--tag-sizes", type=parse_sizes, help="default 1000,10000,100000")
    parser.add_argument("--repo-sizes", type=parse_sizes, help="default 100,1000,10000")
    parser.add_argument("--conc", type=int, default=4, help="connections while measuring (4)")
    parser.add_argument("--duration", type=float, help="seconds per probe (5; quick 2)")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds first (0.5)")
    parser.add_argument("--fill-conc", type=int, default=16, help="connections while filling")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    args = parser.parse_args(argv)
    args.tag_sizes = args.tag_sizes or (QUICK_TAGS if args.quick else FULL_TAGS)
    args.repo_sizes = args.repo_sizes or (QUICK_REPOS if args.quick else FULL_REPOS)
    args.duration = args.duration or (2.0 if args.quick else 5.0)

    workdir = Path(tempfile.mkdtemp(prefix="dockyard-scaling-"))
    server = Dockyard(workdir / "dockyard")
    status = 1
    try:
        with stop_on_sigterm():
            status = run(args, server)
    except BenchError as exc:
        print(f"scaling: error: {exc}\n{server.log_tail()}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("scaling: interrupted", file=sys.stderr)
        status = 130
    finally:
        stop_all([server])
        if args.keep:
            log(f"kept the data directory and server log in {workdir}")
        elif status in (0, 1):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            shutil.rmtree(server.data_dir, ignore_errors=True)
            log(f"kept the server log in {workdir}")
    return status


def run(args: argparse.Namespace, server: Dockyard) -> int:
    facts = machine_facts()
    started = utc_now()
    server.start()
    workers = server.workers()
    log(f"dockyard ready on {server.url}, {len(workers)} workers")
    began = time.monotonic()
    with MemorySampler(server, []) as memory:
        phases = asyncio.run(run_phases(args, server))
    facts["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    document: dict[str, Any] = {
        "schema": 1,
        "date": started,
        "mode": "quick" if args.quick else "full",
        "elapsed_s": round(time.monotonic() - began, 1),
        "machine": facts,
        "dockyard": dockyard_facts(workers=len(workers)),
        "concurrency": args.conc,
        "duration_s": args.duration,
        "fill_concurrency": args.fill_conc,
        "phases": phases,
        "growth": [
            {
                "phase": probe.phase,
                "probe": probe.name,
                "p50": growth(phases[probe.phase], probe.name, "p50_ms"),
                "p99": growth(phases[probe.phase], probe.name, "p99_ms"),
            }
            for probe in PROBES
            if phases[probe.phase]
        ],
        "memory": memory.report(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling-latest.json").write_text(json.dumps(document, indent=1) + "\n")
    table = render(document)
    (args.out / "scaling-latest.md").write_text(table)
    print(table)
    errors = sum(
        found["errors"]
        for rows in phases.values()
        for row in rows
        for found in row["probes"].values()
    )
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
