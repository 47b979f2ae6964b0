"""``dockyard new-project``, ``get projects`` and ``delete project``.

Like ``oc new-project``, creating a project switches to it: later commands without ``-n`` use it.
"""

from __future__ import annotations

import argparse

from dockyard.cli import verbs
from dockyard.cli.client import JSON, command, connect, load_config, save_config, segment

API = "/apis/project.openshift.io/v1"
API_VERSION = "project.openshift.io/v1"
NAME_PREFIX = "project.project.openshift.io"
DISPLAY_NAME = "openshift.io/display-name"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    new = commands.add_parser(
        "new-project",
        help="create a project and switch to it",
        description="Request a new project; you administer it (registry-admin).",
    )
    new.add_argument("name", metavar="NAME")
    new.add_argument("--display-name", default="", metavar="TEXT")
    new.add_argument("--description", default="", metavar="TEXT")
    new.set_defaults(command=run_new_project)

    get = verbs.subcommands(commands, "get").add_parser(
        "projects",
        aliases=["project"],
        help="projects you can see",
        description="List the projects you may see, or show one.",
    )
    get.add_argument("name", nargs="?", metavar="NAME")
    verbs.add_output_flag(get)
    get.set_defaults(command=run_get_projects)

    delete = verbs.subcommands(commands, "delete").add_parser(
        "project",
        aliases=["projects"],
        help="delete a project with everything in it",
        description="Delete a project with its repositories, service accounts and bindings.",
    )
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(command=run_delete_project)


@command
def run_new_project(args: argparse.Namespace) -> int:
    request = {
        "apiVersion": API_VERSION,
        "kind": "ProjectRequest",
        "metadata": {"name": args.name},
        "displayName": args.display_name,
        "description": args.description,
    }
    with connect() as client:
        client.post(f"{API}/projectrequests", request)
        server = client.server
    config = load_config()
    config.namespace = args.name
    save_config(config)
    print(f'Now using project "{args.name}" on server "{server}".')
    return 0


def _display_name(project: JSON) -> str:
    annotations: dict[str, str] = project.get("metadata", {}).get("annotations") or {}
    return annotations.get(DISPLAY_NAME, "")


def _phase(project: JSON) -> str:
    phase: str = (project.get("status") or {}).get("phase", "")
    return phase


COLUMNS: list[verbs.Column] = [
    ("NAME", verbs.metadata_name),
    ("DISPLAY NAME", _display_name),
    ("STATUS", _phase),
]


@command
def run_get_projects(args: argparse.Namespace) -> int:
    with connect() as client:
        if args.name:
            found: JSON | list[JSON] = client.get(f"{API}/projects/{segment(args.name)}")
        else:
            found = verbs.list_items(client.get(f"{API}/projects"), API_VERSION, "Project")
    verbs.print_resources(found, args.output, NAME_PREFIX, COLUMNS)
    return 0


@command
def run_delete_project(args: argparse.Namespace) -> int:
    with connect() as client:
        client.delete(f"{API}/projects/{segment(args.name)}")
    print(f'{NAME_PREFIX} "{args.name}" deleted')
    return 0
