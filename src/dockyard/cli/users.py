"""Users, groups, passwords and service accounts: ``create user``, ``get users``, ``passwd``,
``adm groups``, ``adm import-htpasswd``, ``create serviceaccount``, ``create token``.

Passwords are read from a terminal without echo or from stdin (``--password-stdin``), so they
stay out of shell history and process lists; ``--password`` exists for scripts that accept that.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from pathlib import Path

from dockyard.cli import verbs
from dockyard.cli.client import (
    JSON,
    Client,
    CommandError,
    command,
    connect,
    segment,
    server_error,
)

USER_API = "/apis/user.openshift.io/v1"
USER_API_VERSION = "user.openshift.io/v1"
USER_PREFIX = "user.user.openshift.io"
GROUP_PREFIX = "group.user.openshift.io"
DURATION_RE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    create = verbs.subcommands(commands, "create")
    get = verbs.subcommands(commands, "get")
    delete = verbs.subcommands(commands, "delete")
    adm = verbs.subcommands(commands, "adm")

    user = create.add_parser("user", help="create a user", description="Create a user.")
    user.add_argument("name", metavar="NAME")
    secret = user.add_mutually_exclusive_group()
    secret.add_argument("--password", metavar="PASSWORD", help="the initial password")
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the initial password from stdin"
    )
    user.add_argument("--full-name", default="", metavar="TEXT")
    user.set_defaults(command=run_create_user)

    users = get.add_parser("users", aliases=["user"], help="users", description="List users.")
    users.add_argument("name", nargs="?", metavar="NAME")
    verbs.add_output_flag(users)
    users.set_defaults(command=run_get_users)

    groups = get.add_parser("groups", aliases=["group"], help="groups", description="List groups.")
    groups.add_argument("name", nargs="?", metavar="NAME")
    verbs.add_output_flag(groups)
    groups.set_defaults(command=run_get_groups)

    for kind, runner in (("user", run_delete_user), ("group", run_delete_group)):
        parser = delete.add_parser(
            kind, aliases=[f"{kind}s"], help=f"delete a {kind}", description=f"Delete a {kind}."
        )
        parser.add_argument("name", metavar="NAME")
        parser.set_defaults(command=runner)

    passwd = commands.add_parser(
        "passwd",
        help="change a password",
        description="Change your password, or (with the right to update users) another user's.",
    )
    passwd.add_argument("user", nargs="?", metavar="USER", help="whose (default: yours)")
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the new password from stdin"
    )
    passwd.set_defaults(command=run_passwd)

    group_commands = adm.add_parser(
        "groups", help="manage groups", description="Create groups and change their members."
    ).add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)
    for name, runner, summary in (
        ("new", run_new_group, "create a group, optionally with members"),
        ("add-users", run_add_users, "add users to a group"),
        ("remove-users", run_remove_users, "remove users from a group"),
    ):
        parser = group_commands.add_parser(name, help=summary, description=summary.capitalize())
        parser.add_argument("group", metavar="GROUP")
        parser.add_argument("users", nargs="*" if name == "new" else "+", metavar="USER")
        parser.set_defaults(command=runner)

    htpasswd = adm.add_parser(
        "import-htpasswd",
        help="create or update users from an htpasswd file",
        description="Create each user of an htpasswd file (bcrypt entries, htpasswd -B) or set"
        " the password of those that exist. The whole file is checked before anything changes.",
    )
    htpasswd.add_argument("file", metavar="FILE", help="the htpasswd file, or - for stdin")
    htpasswd.set_defaults(command=run_import_htpasswd)

    account = create.add_parser(
        "serviceaccount",
        aliases=["sa"],
        help="create a service account",
        description="Create a service account in a project.",
    )
    account.add_argument("name", metavar="NAME")
    verbs.add_namespace_flag(account)
    account.set_defaults(command=run_create_service_account)

    token = create.add_parser(
        "token",
        help="issue a token for a service account",
        description="Request a token for a service account and print it.",
    )
    token.add_argument("name", metavar="SERVICEACCOUNT")
    verbs.add_namespace_flag(token)
    token.add_argument(
        "--duration", default="1h", metavar="DURATION", help="lifetime, e.g. 30m, 1h, 8h (1h)"
    )
    token.set_defaults(command=run_create_token)


# --- users -----------------------------------------------------------------------------------


def read_password(from_stdin: bool, confirm: bool = False) -> str:
    """A password from stdin's first line, or asked for twice on a terminal."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("error: no password on stdin")
        return password
    if not sys.stdin.isatty():
        raise CommandError("error: stdin is not a terminal; use --password-stdin")
    try:
        password = getpass.getpass("New password: ")
        if confirm and getpass.getpass("Retype new password: ") != password:
            raise CommandError("error: the passwords do not match")
    except EOFError:
        raise CommandError("error: cancelled") from None
    return password


@command
def run_create_user(args: argparse.Namespace) -> int:
    body: JSON = {
        "apiVersion": USER_API_VERSION,
        "kind": "User",
        "metadata": {"name": args.name},
        "fullName": args.full_name,
    }
    if args.password_stdin:
        body["password"] = read_password(True)
    elif args.password is not None:
        body["password"] = args.password
    with connect() as client:
        client.post(f"{USER_API}/users", body)
    print(f"{USER_PREFIX}/{args.name} created")
    return 0


USER_COLUMNS: list[verbs.Column] = [
    ("NAME", verbs.metadata_name),
    ("UID", lambda user: str(user.get("metadata", {}).get("uid", ""))),
    ("FULL NAME", lambda user: str(user.get("fullName") or "")),
    ("GROUPS", lambda user: ", ".join(user.get("groups") or [])),
]
GROUP_COLUMNS: list[verbs.Column] = [
    ("NAME", verbs.metadata_name),
    ("USERS", lambda group: ", ".join(group.get("users") or [])),
]


def _get(client: Client, resource: str, kind: str, name: str | None) -> JSON | list[JSON]:
    if name:
        found: JSON = client.get(f"{USER_API}/{resource}/{segment(name)}")
        return found
    return verbs.list_items(client.get(f"{USER_API}/{resource}"), USER_API_VERSION, kind)


@command
def run_get_users(args: argparse.Namespace) -> int:
    with connect() as client:
        found = _get(client, "users", "User", args.name)
    verbs.print_resources(found, args.output, USER_PREFIX, USER_COLUMNS)
    return 0


@command
def run_get_groups(args: argparse.Namespace) -> int:
    with connect() as client:
        found = _get(client, "groups", "Group", args.name)
    verbs.print_resources(found, args.output, GROUP_PREFIX, GROUP_COLUMNS)
    return 0


@command
def run_delete_user(args: argparse.Namespace) -> int:
    with connect() as client:
        client.delete(f"{USER_API}/users/{segment(args.name)}")
    print(f'{USER_PREFIX} "{args.name}" deleted')
    return 0


@command
def run_delete_group(args: argparse.Namespace) -> int:
    with connect() as client:
        client.delete(f"{USER_API}/groups/{segment(args.name)}")
    print(f'{GROUP_PREFIX} "{args.name}" deleted')
    return 0


@command
def run_passwd(args: argparse.Namespace) -> int:
    with connect() as client:
        user = args.user or client.get(f"{USER_API}/users/~")["metadata"]["name"]
        password = read_password(args.password_stdin, confirm=True)
        client.put(f"{USER_API}/users/{segment(user)}/password", {"password": password})
    print(f'Password of user "{user}" changed.')
    return 0


@command
def run_import_htpasswd(args: argparse.Namespace) -> int:
    from dockyard.auth.passwords import parse_htpasswd  # the server's own rules, checked first

    source = "stdin" if args.file == "-" else args.file
    try:
        content = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
        entries = parse_htpasswd(content)
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"error: cannot read {source}: {exc}") from None
    except ValueError as exc:
        raise CommandError(f"error: {source}: {exc}") from None
    if not entries:
        raise CommandError(f"error: {source} has no users")
    with connect() as client:
        for name, hashed in entries:
            body = {"apiVersion": USER_API_VERSION, "kind": "User", "metadata": {"name": name}}
            response = client.send("POST", f"{USER_API}/users", body=body)
            if response.is_error and response.status_code != 409:
                raise server_error(response)
            client.put(f"{USER_API}/users/{segment(name)}/password", {"passwordHash": hashed})
            outcome = "configured" if response.status_code == 409 else "created"
            print(f"{USER_PREFIX}/{name} {outcome}")
    return 0


# --- groups ----------------------------------------------------------------------------------


@command
def run_new_group(args: argparse.Namespace) -> int:
    body = {
        "apiVersion": USER_API_VERSION,
        "kind": "Group",
        "metadata": {"name": args.group},
        "users": list(dict.fromkeys(args.users)),
    }
    with connect() as client:
        client.post(f"{USER_API}/groups", body)
    print(f"{GROUP_PREFIX}/{args.group} created")
    return 0


def _change_members(args: argparse.Namespace, add: bool) -> None:
    path = f"{USER_API}/groups/{segment(args.group)}"
    with connect() as client:
        group = client.get(path)
        current: list[str] = group.get("users") or []
        if add:
            users = list(dict.fromkeys([*current, *args.users]))
        else:
            users = [user for user in current if user not in args.users]
        if users != current:
            client.put(path, {**group, "users": users})
    print(
        f"{GROUP_PREFIX}/{args.group} {'added' if add else 'removed'}: {verbs.quoted(args.users)}"
    )


@command
def run_add_users(args: argparse.Namespace) -> int:
    _change_members(args, add=True)
    return 0


@command
def run_remove_users(args: argparse.Namespace) -> int:
    _change_members(args, add=False)
    return 0


# --- service accounts ------------------------------------------------------------------------


def _accounts(namespace: str) -> str:
    return f"/api/v1/namespaces/{segment(namespace)}/serviceaccounts"


@command
def run_create_service_account(args: argparse.Namespace) -> int:
    namespace = verbs.namespace_of(args)
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": args.name}}
    with connect() as client:
        client.post(_accounts(namespace), body)
    print(f"serviceaccount/{args.name} created")
    return 0


def parse_duration(text: str) -> int:
    """Seconds of a Go-style duration (``1h``, ``30m``, ``1h30m``, ``90s``), as oc takes it."""
    match = DURATION_RE.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise CommandError(f'error: invalid duration "{text}": use e.g. 30m, 1h or 1h30m')
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


@command
def run_create_token(args: argparse.Namespace) -> int:
    namespace = verbs.namespace_of(args)
    seconds = parse_duration(args.duration)
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds},
    }
    with connect() as client:
        issued = client.post(f"{_accounts(namespace)}/{segment(args.name)}/token", body)
    print(issued["status"]["token"])
    return 0
