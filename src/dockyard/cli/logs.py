"""``dockyard logs [-f] [--tail N] [POD]``: the registry's log, as ``oc logs`` shows a pod's.

The workers share one log, so any pod of ``openshift-image-registry`` shows all of it; without
a name the first one is read. ``-f`` follows it until interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx

from dockyard.cli.client import CommandError, command, connect, connect_error, segment, server_error

PODS = "/api/v1/namespaces/openshift-image-registry/pods"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = commands.add_parser(
        "logs",
        help="show the registry's log",
        description="Print the registry's log (every worker's), as oc logs prints a pod's.",
    )
    logs.add_argument("pod", nargs="?", help="a worker pod (default: the first)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing what comes")
    logs.add_argument("--tail", type=int, metavar="N", help="start N lines from the end")
    logs.set_defaults(command=run_logs)


@command
def run_logs(args: argparse.Namespace) -> int:
    if args.tail is not None and args.tail < 0:
        raise CommandError("error: --tail must be 0 or more")
    with connect() as client:
        name = args.pod or _first_pod(client.get(PODS).get("items") or [])
        params = {"follow": "true"} if args.follow else {}
        if args.tail is not None:
            params["tailLines"] = str(args.tail)
        headers = {"Authorization": f"Bearer {client.token}"}
        timeout = httpx.Timeout(30.0, read=None if args.follow else 30.0)
        try:
            with client.http.stream(
                "GET",
                f"{PODS}/{segment(name)}/log",
                params=params,
                headers=headers,
                timeout=timeout,
            ) as response:
                if response.is_error:
                    response.read()
                    raise server_error(response)
                for chunk in response.iter_bytes():
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
        except httpx.TransportError as exc:
            raise CommandError(connect_error(client.server, exc)) from None
    return 0


def _first_pod(pods: list[Any]) -> str:
    names = sorted(str(pod["metadata"]["name"]) for pod in pods)
    if not names:
        raise CommandError('error: no pods in namespace "openshift-image-registry"')
    return names[0]
