"""``dockyard policy`` and ``dockyard adm policy``: grant and revoke roles, the way ``oc`` does.

Granting extends the binding that already binds the role, or creates one named after the role
(``registry-viewer``, else ``registry-viewer-0``, ``-1``… when another binding took the name);
revoking removes the subjects from every binding of the role and deletes bindings left empty.
Everything goes through the rolebindings API, so whoever may manage bindings may use these.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from dockyard.auth.rbac import RBAC_GROUP
from dockyard.cli import verbs
from dockyard.cli.client import JSON, Client, CommandError, command, connect, segment

RBAC_API = f"/apis/{RBAC_GROUP}/v1"
RBAC_API_VERSION = f"{RBAC_GROUP}/v1"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Scope:
    """Where bindings are changed: a project, or the cluster (``namespace`` None)."""

    namespace: str | None

    @property
    def path(self) -> str:
        if self.namespace is None:
            return f"{RBAC_API}/clusterrolebindings"
        return f"{RBAC_API}/namespaces/{segment(self.namespace)}/rolebindings"

    @property
    def kind(self) -> str:
        return "RoleBinding" if self.namespace is not None else "ClusterRoleBinding"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    project = verbs.subcommands(commands, "policy")
    cluster = (
        verbs.subcommands(commands, "adm")
        .add_parser(
            "policy",
            help="manage cluster-wide policy",
            description="Grant or revoke cluster roles in every project.",
        )
        .add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)
    )
    for subcommands, infix, where in (
        (project, "role", "in a project"),
        (cluster, "cluster-role", "cluster-wide"),
    ):
        for kind in ("user", "group"):
            for add in (True, False):
                name = f"add-{infix}-to-{kind}" if add else f"remove-{infix}-from-{kind}"
                summary = f"{'grant' if add else 'revoke'} a role to {kind}s {where}"
                parser = subcommands.add_parser(
                    name, help=summary, description=summary[0].upper() + summary[1:] + "."
                )
                _arguments(parser, kind, add, cluster=infix == "cluster-role")
                parser.set_defaults(
                    command=run_policy,
                    add=add,
                    subject_kind=kind.capitalize(),
                    cluster=infix == "cluster-role",
                )


def _arguments(parser: argparse.ArgumentParser, kind: str, add: bool, cluster: bool) -> None:
    parser.add_argument("role", metavar="ROLE", help="a cluster role, e.g. registry-viewer")
    parser.add_argument("names", nargs="*", metavar=kind.upper())
    if kind == "user":
        parser.add_argument(
            "-z",
            "--serviceaccount",
            action="append",
            default=[],
            metavar="NAME",
            help="a service account of the project (repeatable)",
        )
    verbs.add_namespace_flag(parser)
    if add:
        parser.add_argument(
            "--rolebinding-name",
            metavar="NAME",
            help=f"the {'cluster' if cluster else ''}rolebinding to use or create",
        )


def subjects_of(args: argparse.Namespace) -> tuple[list[JSON], list[str]]:
    """The subjects to bind and the names ``oc`` lists in its message."""
    accounts: list[str] = getattr(args, "serviceaccount", [])
    if not args.names and not accounts:
        raise CommandError(
            f"error: name at least one {args.subject_kind.lower()}"
            + (" or service account (-z)" if args.subject_kind == "User" else "")
        )
    subjects: list[JSON] = []
    for name in args.names:
        if args.subject_kind == "User" and name.startswith(SERVICE_ACCOUNT_PREFIX):
            namespace, _, account = name.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
            subjects.append({"kind": "ServiceAccount", "name": account, "namespace": namespace})
        else:
            subjects.append({"kind": args.subject_kind, "apiGroup": RBAC_GROUP, "name": name})
    if accounts:
        namespace = verbs.namespace_of(args)
        subjects += [
            {"kind": "ServiceAccount", "name": account, "namespace": namespace}
            for account in accounts
        ]
    return subjects, [*args.names, *accounts]


def subject_key(subject: JSON, namespace: str | None) -> tuple[str, str, str]:
    """Subjects compare by kind, name and (for service accounts) namespace, which in a
    RoleBinding defaults to the binding's."""
    if subject.get("kind") == "ServiceAccount":
        return (
            "ServiceAccount",
            subject.get("name", ""),
            subject.get("namespace") or namespace or "",
        )
    return subject.get("kind", ""), subject.get("name", ""), ""


@command
def run_policy(args: argparse.Namespace) -> int:
    scope = Scope(None if args.cluster else verbs.namespace_of(args))
    subjects, targets = subjects_of(args)
    with connect() as client:
        bindings = client.get(scope.path).get("items") or []
        if args.add:
            _add(client, scope, args.role, subjects, bindings, args.rolebinding_name)
        else:
            _remove(client, scope, args.role, subjects, bindings, targets)
    verb = "added" if args.add else "removed"
    print(f"clusterrole.{RBAC_GROUP}/{args.role} {verb}: {verbs.quoted(targets)}")
    return 0


def _binds_role(binding: JSON, role: str) -> bool:
    ref = binding.get("roleRef") or {}
    return bool(ref.get("kind") == "ClusterRole" and ref.get("name") == role)


def _add(
    client: Client,
    scope: Scope,
    role: str,
    subjects: list[JSON],
    bindings: list[JSON],
    binding_name: str | None,
) -> None:
    names = [verbs.metadata_name(binding) for binding in bindings]
    if binding_name:
        chosen = [b for b in bindings if verbs.metadata_name(b) == binding_name]
        if chosen and not _binds_role(chosen[0], role):
            raise CommandError(
                f'error: {scope.kind.lower()} "{binding_name}" binds another role, not "{role}"'
            )
    else:
        chosen = [b for b in bindings if _binds_role(b, role)]
        binding_name = _unique_name(role, names)
    if not chosen:
        body: JSON = {
            "apiVersion": RBAC_API_VERSION,
            "kind": scope.kind,
            "metadata": {"name": binding_name},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
            "subjects": _deduplicated(subjects, scope.namespace),
        }
        if scope.namespace is not None:
            body["metadata"]["namespace"] = scope.namespace
        client.post(scope.path, body)
        return
    binding = chosen[0]
    current: list[JSON] = binding.get("subjects") or []
    merged = _deduplicated([*current, *subjects], scope.namespace)
    if len(merged) != len(current):
        name = verbs.metadata_name(binding)
        client.put(f"{scope.path}/{segment(name)}", {**binding, "subjects": merged})


def _remove(
    client: Client,
    scope: Scope,
    role: str,
    subjects: list[JSON],
    bindings: list[JSON],
    targets: list[str],
) -> None:
    unwanted = {subject_key(subject, scope.namespace) for subject in subjects}
    changed = False
    for binding in (b for b in bindings if _binds_role(b, role)):
        current: list[JSON] = binding.get("subjects") or []
        kept = [s for s in current if subject_key(s, scope.namespace) not in unwanted]
        if len(kept) == len(current):
            continue
        changed = True
        path = f"{scope.path}/{segment(verbs.metadata_name(binding))}"
        if kept:
            client.put(path, {**binding, "subjects": kept})
        else:
            client.delete(path)
    if not changed:
        where = f' in project "{scope.namespace}"' if scope.namespace else " cluster-wide"
        raise CommandError(f'error: role "{role}" is not bound to {verbs.quoted(targets)}{where}')


def _unique_name(role: str, taken: list[str]) -> str:
    name, suffix = role, 0
    while name in taken:
        name, suffix = f"{role}-{suffix}", suffix + 1
    return name


def _deduplicated(subjects: list[JSON], namespace: str | None) -> list[JSON]:
    seen: dict[tuple[str, str, str], JSON] = {}
    for subject in subjects:
        seen.setdefault(subject_key(subject, namespace), subject)
    return list(seen.values())
