"""``make bench``: Dockyard against Debian's docker-registry, side by side, in one run.

Starts Dockyard as a user runs it in production (default worker count, SQLite and filesystem
storage, authentication on, logging at info) and ``docker-registry`` (filesystem storage, no
auth), each on a fresh data directory and a free loopback port; runs the shared harness
``../shared/bench/regbench.py`` against both (interleaved repetitions, paired ratios); stops both,
also on errors and Ctrl-C; writes ``bench/results/latest.json`` and ``bench/results/latest.md``
(the table of the README's "Performance" section).

    python bench/run.py [--quick] [--harness PATH] [--keep] [-- REGBENCH-ARGS...]

``--quick`` takes about three minutes; the full run about ten. Arguments after ``--`` go to
regbench unchanged (``-- --only d_,e_``, ``-- --reps 7``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers import (
    REPO_ROOT,
    BenchError,
    Dockyard,
    MemorySampler,
    Peer,
    Server,
    dockyard_facts,
    find_harness,
    log,
    machine_facts,
    stop_all,
    stop_on_sigterm,
    utc_now,
)

RESULTS_DIR = REPO_ROOT / "bench" / "results"
PEER_NAME = "peer"
OURS_NAME = "dockyard"
DASH = "\u2013"
TIMES = "\u00d7"


@dataclass(frozen=True)
class Target:
    """A row of the table: a regbench metric, the figure compared, and the issue's target."""

    metric: str
    key: str
    label: str
    unit: str
    min_ratio: float
    latency: bool = False


TARGETS = (
    Target("d_manifest_get_tag", "rps", "manifest GET by tag (c=32)", "req/s", 6.0, True),
    Target("e_manifest_head_digest", "rps", "manifest HEAD by digest (c=32)", "req/s", 6.0, True),
    Target("f_tags_list_1000", "rps", "tags list, 1,000 tags (c=8)", "req/s", 3.0, True),
    Target("h_catalog", "rps", "catalog, n=1000 (c=8)", "req/s", 5.0, True),
    Target(
        "g_push_small_images",
        "images_per_s",
        "small image pushes (8 threads)",
        "images/s",
        2.0,
        True,
    ),
    Target("a_push_monolithic", "MBps", "blob push, monolithic 256 MiB", "MB/s", 3.0),
    Target("b_push_chunked", "MBps", "blob push, chunked 5 MiB", "MB/s", 3.0),
    Target("c_pull", "MBps", "blob pull 256 MiB (curl)", "MB/s", 0.95),
)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        description="Benchmark Dockyard against docker-registry with the shared regbench harness."
    )
    parser.add_argument("--quick", action="store_true", help="regbench --quick (~3 minutes)")
    parser.add_argument(
        "--harness", metavar="PATH", help="regbench.py (default: $REGBENCH, else ../shared/bench)"
    )
    parser.add_argument(
        "--out", metavar="DIR", type=Path, default=RESULTS_DIR, help="results directory"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the servers' data directories and logs"
    )
    return parser.parse_args(argv), passthrough


def main(argv: list[str]) -> int:
    args, passthrough = parse_args(argv)
    try:
        harness = find_harness(args.harness)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    if shutil.which("wrk") is None:
        log("wrk is not installed (apt-get install -y wrk): GET load falls back to python")
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    peer, ours = Peer(workdir / PEER_NAME), Dockyard(workdir / OURS_NAME)
    servers: list[Server] = [peer, ours]
    status = 1
    try:
        with stop_on_sigterm():
            status = run(args, passthrough, harness, peer, ours)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        status = 130
    finally:
        stop_all(servers)
        if args.keep:
            log(f"kept the data directories and server logs in {workdir}")
        elif status in (0, 1):
            shutil.rmtree(workdir, ignore_errors=True)
        else:  # the logs help, the blobs (GiBs) do not
            for server in servers:
                shutil.rmtree(server.data_dir, ignore_errors=True)
            log(f"kept the server logs in {workdir}")
    return status


def run(
    args: argparse.Namespace,
    passthrough: list[str],
    harness: Path,
    peer: Peer,
    ours: Dockyard,
) -> int:
    facts = machine_facts()
    started = utc_now()
    for server in (peer, ours):
        server.start()
        log(f"{server.name} ready on {server.url} (pid {server.proc.pid if server.proc else '?'})")
    workers = ours.workers()
    log(f"dockyard workers: {len(workers)} (pids {', '.join(map(str, workers))})")
    raw_json = peer.workdir.parent / "regbench.json"
    # Basic credentials for the token endpoint: an API token, as `podman login -u any -p
    # "$(dockyard whoami -t)"` uses; the password would cost a bcrypt per token fetch.
    secret = ours.api_token()
    command = [
        sys.executable, str(harness),
        "--url", peer.url, "--name", PEER_NAME,
        "--url2", ours.url, "--name2", OURS_NAME,
        "--auth2", f"{ours.user}:{secret}",
        "--json-out", str(raw_json),
        *(["--quick"] if args.quick else []),
        *passthrough,
    ]  # fmt: skip
    shown = [f"{ours.user}:***" if part.startswith(f"{ours.user}:") else part for part in command]
    log("running " + " ".join(shown))
    began = time.monotonic()
    with MemorySampler(ours, [peer]) as memory:
        harness_status = _run_harness(command)
        if ours.proc is not None and ours.proc.poll() is not None:
            raise BenchError(f"dockyard died during the run:\n{ours.log_tail()}")
    elapsed = time.monotonic() - began
    if not raw_json.is_file():
        raise BenchError(
            f"regbench exited with status {harness_status} and wrote no results "
            f"(see its output above).\ndockyard's log:\n{ours.log_tail()}"
        )
    regbench = json.loads(raw_json.read_text())
    facts["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result = summarise(regbench, memory.report())
    document: dict[str, Any] = {
        "schema": 1,
        "date": started,
        "mode": "quick" if args.quick else "full",
        "regbench_args": passthrough,
        "elapsed_s": round(elapsed, 1),
        "machine": facts,
        "dockyard": dockyard_facts(
            settings="defaults: workers = CPUs, SQLite, filesystem storage, auth on, "
            "log level info with access log (stderr to a file)",
            workers=len(workers),
            auth="Docker token protocol; token requests with Basic admin + API token",
        ),
        "peer": {
            "version": facts.get("docker_registry"),
            "settings": "bench/README.md config: filesystem, no auth, log level error, "
            "no access log, inmemory blob descriptor cache",
        },
        "ratio": f"{OURS_NAME} / {PEER_NAME}: > 1 is better for throughput",
        **result,
        "errors": regbench.get("errors", []),
        "regbench_status": harness_status,
        "regbench": regbench,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(document, indent=1) + "\n")
    table = render_table(document)
    (args.out / "latest.md").write_text(table)
    print()
    print(table)
    log(f"wrote {args.out / 'latest.json'} and {args.out / 'latest.md'}")
    if harness_status != 0:
        log(f"regbench exited with status {harness_status}: see the errors in latest.json")
    return 0 if harness_status == 0 else 1


def _run_harness(command: list[str]) -> int:
    """regbench in the foreground (it shares our Ctrl-C); terminated by pid if we stop first."""
    proc = subprocess.Popen(command, cwd=REPO_ROOT)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _per_rep(side: dict[str, Any], key: str) -> list[float]:
    values = side.get(f"{key}_all")
    return [float(v) for v in values] if isinstance(values, list) else []


def _figures(side: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {
        key: {"median": side.get(key), "reps": _per_rep(side, key)} for key in keys if key in side
    }


def summarise(regbench: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
    """Medians, per-repetition values and both ratios of every metric, and the targets."""
    metrics: dict[str, Any] = {}
    for name, sides in regbench.get("metrics", {}).items():
        peer, ours = sides.get(PEER_NAME, {}), sides.get(OURS_NAME, {})
        keys = [k for k in ours if not k.endswith(("_all", "_spread_pct"))]
        metrics[name] = {
            OURS_NAME: _figures(ours, keys),
            PEER_NAME: _figures(peer, keys),
            "ratio_of_medians": {
                k: regbench.get("ratios_B_over_A", {}).get(f"{name}.{k}")
                for k in keys
                if f"{name}.{k}" in regbench.get("ratios_B_over_A", {})
            },
            "ratio_paired_median": {
                k: regbench.get("ratios_paired_median", {}).get(f"{name}.{k}")
                for k in keys
                if f"{name}.{k}" in regbench.get("ratios_paired_median", {})
            },
        }
    targets = []
    for target in TARGETS:
        found = metrics.get(target.metric)
        paired = found["ratio_paired_median"].get(target.key) if found else None
        of_medians = found["ratio_of_medians"].get(target.key) if found else None
        targets.append(
            {
                "metric": target.metric,
                "figure": target.key,
                "label": target.label,
                "target_min_ratio": target.min_ratio,
                "ratio_paired_median": paired,
                "ratio_of_medians": of_medians,
                "met": None if paired is None else paired >= target.min_ratio,
            }
        )
    return {"metrics": metrics, "targets": targets, "memory": memory}


def _number(value: float | None) -> str:
    if value is None:
        return DASH
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(figures: dict[str, Any], target: Target) -> str:
    main = figures.get(target.key, {}).get("median")
    if main is None:
        return "not run"
    text = _number(main)
    if target.latency and "p50_ms" in figures:
        p50, p99 = figures["p50_ms"]["median"], figures.get("p99_ms", {}).get("median")
        text += f" (p50 {_number(p50)} / p99 {_number(p99)} ms)"
    return text


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def render_table(document: dict[str, Any]) -> str:
    machine = document["machine"]
    metrics = document["metrics"]
    lines = [
        f"`make bench{'-quick' if document['mode'] == 'quick' else ''}`, {document['date']}: "
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"{machine['memory_total_mib'] / 1024:.0f} GiB, Linux {machine['kernel']}, "
        f"Python {machine['python']}; load average {machine['loadavg_at_start'][0]} at start, "
        f"{machine.get('loadavg_at_end', ['?'])[0]} at end. "
        f"Dockyard {document['dockyard']['version']} "
        f"({document['dockyard']['workers']} workers, token auth) vs "
        f"{machine['docker_registry'] or 'docker-registry'} (no auth). "
        f"{document['regbench'].get('reps')} repetitions per side, interleaved, "
        f"{document['regbench'].get('duration_s')} s load runs, "
        f"{len(document['errors'])} errors.",
        "",
        "| metric | Dockyard | peer | ratio | target | |",
        "|---|---|---|---|---|---|",
    ]
    for target in TARGETS:
        found = metrics.get(target.metric)
        if found is None:
            lines.append(
                f"| {target.label}, {target.unit} | not run | not run | {DASH} | "
                f"≥ {target.min_ratio:.2f}{TIMES} | |"
            )
            continue
        paired = found["ratio_paired_median"].get(target.key)
        verdict = "" if paired is None else ("met" if paired >= target.min_ratio else "**not met**")
        lines.append(
            f"| {target.label}, {target.unit} | {_cell(found[OURS_NAME], target)} | "
            f"{_cell(found[PEER_NAME], target)} | "
            f"{DASH if paired is None else f'{paired:.2f}{TIMES}'} | "
            f"≥ {target.min_ratio:.2f}{TIMES} | "
            f"{verdict} |"
        )
    memory = document["memory"]
    workers = memory["dockyard_workers"]
    peer_peaks = [kib for name, kib in memory["processes"].items() if name.startswith("docker")]
    if workers:
        worker_text = " / ".join(_mib(kib) for kib in workers.values()) + " MiB"
        if len(workers) > document["dockyard"]["workers"]:
            worker_text += f" ({len(workers)} worker pids seen: a worker was restarted)"
        peer_text = f"{_mib(peer_peaks[0])} MiB" if peer_peaks else DASH
        lines.append(
            f"| peak RSS (VmHWM) per Dockyard worker; peer process | {worker_text} | "
            f"{peer_text} | | | |"
        )
    lines += [
        "",
        "Ratio: Dockyard / peer, the median of the per-repetition ratios (paired); > 1 means "
        "Dockyard is faster. Figures are medians "
        "over the repetitions; latencies are the load client's p50 / p99. Raw per-repetition "
        "values: `bench/results/latest.json`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
