"""``dockyard login``, ``whoami`` and ``logout``: the API token the other commands use.

``login`` trades a user name and password for a token at ``/oauth/token`` (or takes a token
given with ``--token``), asks the server who that is, and keeps server, user and token in the
client config; ``logout`` revokes the token on the server before forgetting it, so a copied
config stops working too.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from dockyard.cli.client import (
    Client,
    ClientConfig,
    CommandError,
    command,
    load_config,
    normalize_server,
    save_config,
    server_error,
    status_of,
)

CURRENT_USER = "/apis/user.openshift.io/v1/users/~"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    login = commands.add_parser(
        "login",
        help="log in to a registry server",
        description="Log in with a user name and password (prompted for when missing and stdin"
        " is a terminal) or with a token, and remember the server and token.",
        epilog="SERVER is a URL, or HOST:PORT: https, except plain http on loopback addresses"
        " (dockyard serve's default). Without SERVER, the server of the last login.",
    )
    login.add_argument("server", nargs="?", metavar="SERVER", help="the registry's address")
    login.add_argument("-u", "--username", metavar="USER")
    login.add_argument("-p", "--password", metavar="PASSWORD")
    login.add_argument("--token", metavar="TOKEN", help="log in with this API token instead")
    login.add_argument(
        "--insecure-skip-tls-verify",
        action="store_true",
        help="don't verify the server's certificate (only for a server you trust)",
    )
    login.set_defaults(command=run_login)

    whoami = commands.add_parser(
        "whoami", help="print the logged-in user", description="Print who the server says you are."
    )
    whoami.add_argument(
        "-t", "--show-token", action="store_true", help="print the API token instead"
    )
    whoami.add_argument(
        "--show-server", action="store_true", help="print the server's address instead"
    )
    whoami.set_defaults(command=run_whoami)

    logout = commands.add_parser(
        "logout",
        help="end the session",
        description="Revoke the API token on the server and forget it.",
    )
    logout.set_defaults(command=run_logout)


@command
def run_login(args: argparse.Namespace) -> int:
    config = load_config()
    server = normalize_server(args.server) if args.server else config.server
    if not server:
        raise CommandError("error: no server given: dockyard login [-u USER] SERVER")
    insecure = args.insecure_skip_tls_verify or (
        config.insecure_skip_tls_verify and server == config.server
    )
    with Client(server, insecure=insecure) as client:
        if args.token:
            if args.username or args.password:
                raise CommandError("error: give either --token or -u/-p, not both")
            client.token = args.token
        else:
            username = args.username or _prompt("Username: ", secret=False)
            password = args.password if args.password is not None else _prompt("Password: ")
            client.token = _password_grant(client, username, password)
        response = client.send("GET", CURRENT_USER)
        if response.status_code == 401:
            raise CommandError("error: The token provided is invalid or expired.")
        if response.is_error:
            raise server_error(response)
        user = str(response.json()["metadata"]["name"])
    same_server = server == config.server
    save_config(
        ClientConfig(
            server=server,
            user=user,
            token=client.token,
            namespace=config.namespace if same_server else "",
            insecure_skip_tls_verify=insecure,
        )
    )
    print(f'Logged into "{server}" as "{user}".')
    return 0


def _prompt(label: str, secret: bool = True) -> str:
    if not sys.stdin.isatty():
        raise CommandError(
            "error: a user name and password are needed: give -u USER -p PASSWORD (stdin is not"
            " a terminal to ask on)"
        )
    try:
        return getpass.getpass(label) if secret else input(label)
    except EOFError:
        raise CommandError("error: login cancelled") from None


def _password_grant(client: Client, username: str, password: str) -> str:
    form = {"grant_type": "password", "username": username, "password": password}
    response = client.send("POST", "/oauth/token", form=form)
    if response.is_success:
        token = response.json().get("access_token")
        if not isinstance(token, str) or not token:
            raise CommandError("error: the server answered the login without a token")
        return token
    if status_of(response) is not None:
        raise server_error(response)
    try:
        error = response.json()
    except ValueError:
        error = {}
    if response.status_code == 401:
        raise CommandError(
            "Login failed (401 Unauthorized)\nVerify you have provided the correct credentials."
        )
    description = error.get("error_description") if isinstance(error, dict) else None
    raise CommandError(
        f"error: login failed ({response.status_code} {response.reason_phrase})"
        + (f": {description}" if description else "")
    )


@command
def run_whoami(args: argparse.Namespace) -> int:
    config = load_config()
    if args.show_token:
        if not config.token:
            raise CommandError("error: no token is currently in use for this session")
        print(config.token)
        return 0
    if args.show_server:
        if not config.server:
            raise CommandError("error: no server is configured; run dockyard login SERVER")
        print(config.server)
        return 0
    if not config.server or not config.token:
        raise CommandError("error: You must be logged in to the server; run dockyard login")
    with Client(config.server, config.token, config.insecure_skip_tls_verify) as client:
        print(client.get(CURRENT_USER)["metadata"]["name"])
    return 0


@command
def run_logout(args: argparse.Namespace) -> int:
    config = load_config()
    if not config.token or not config.server:
        raise CommandError("error: You must have a token in order to logout.")
    with Client(config.server, config.token, config.insecure_skip_tls_verify) as client:
        # Unreachable server: the token stays valid there, so it is kept here too (try again).
        response = client.send("POST", "/oauth/revoke", form={"token": config.token})
    if response.is_error and response.status_code != 401:  # 401: already revoked or expired
        raise server_error(response)
    user = config.user
    config.token = ""
    config.user = ""
    save_config(config)
    print(f'Logged "{user}" out on "{config.server}"')
    return 0
