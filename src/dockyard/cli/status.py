"""``dockyard status``: the registry's health and its workers, as ``oc get clusteroperator
image-registry`` and ``oc get pods -n openshift-image-registry`` show them together."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from dockyard.cli import printing
from dockyard.cli.client import command, connect
from dockyard.cli.verbs import format_table

OPERATOR = "/apis/config.openshift.io/v1/clusteroperators/image-registry"
PODS = "/api/v1/namespaces/openshift-image-registry/pods"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        help="the registry's health and worker processes",
        description="Show the cluster operator's conditions and the workers (name, ready,"
        " status, restarts, age).",
    )
    status.set_defaults(command=run_status)


@command
def run_status(args: argparse.Namespace) -> int:
    with connect() as client:
        operator = client.get(OPERATOR)
        pods = client.get(PODS).get("items") or []
    now = datetime.now(UTC)
    for columns, items in (
        (printing.columns_for("config.openshift.io", "ClusterOperator", now), [operator]),
        (printing.columns_for("", "Pod", now), pods),
    ):
        headers = [header for header, _ in columns]
        rows = [[cell(item) for _, cell in columns] for item in items]
        print(format_table(headers, rows))
        print()
    return 0
