"""Argument parsing and dispatch; every command group adds its own subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from dockyard import __version__
from dockyard.cli import (
    importimage,
    login,
    logs,
    policy,
    projects,
    prune,
    resources,
    serve,
    status,
    tag,
    users,
    writes,
)

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

COMMAND_GROUPS: tuple[Register, ...] = (
    serve.register,
    login.register,
    projects.register,
    users.register,
    policy.register,
    resources.register,
    writes.register,
    tag.register,
    importimage.register,
    prune.register,
    status.register,
    logs.register,
)
"""One ``register`` per command module; a new group is a module plus an entry here."""

DESCRIPTION = """\
Dockyard is a container image registry: OCI Distribution 1.1 and Docker Registry HTTP API V2."""

EPILOG = """\
Start a registry on this machine (data in ~/.local/share/dockyard):
  dockyard serve
  podman push --tls-verify=false alpine 127.0.0.1:5000/myproject/alpine:latest

Settings come from a YAML file (--config), REGISTRY_* environment variables and flags,
with the keys of CNCF Distribution's config.yml; see docs/configuration.md.
Run 'dockyard COMMAND --help' for a command's options."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockyard",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dockyard {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in COMMAND_GROUPS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] | None = getattr(args, "command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return command(args)
    except KeyboardInterrupt:
        return 130
