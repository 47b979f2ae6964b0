"""Parsing for the commands that take any kind: ``dockyard get KIND [NAME...]`` next to the
hand-written ``get projects``, and positionals that may come after options.

argparse knows subcommands by name only. ``accept_any_kind`` keeps the names other groups
registered under a shared verb (``get projects``, ``delete user``…) and sends every other word
to one generic parser, which finds the word in ``args.<verb>_subcommand``: the generic path
never shadows a hand-written command, and a kind the server adds later needs no new parser.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from typing import Any, TypeAlias

from dockyard.cli import verbs

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
OUTPUTS = ("json", "yaml", "name", "wide")


class KindParser(argparse.ArgumentParser):
    """A parser whose ``words`` positional also takes the words that follow an option
    (``get is -n proj app``), which plain argparse leaves unrecognized."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        words = [extra for extra in extras if not extra.startswith("-") or extra == "-"]
        if words:
            parsed.words = [*(getattr(parsed, "words", None) or []), *words]
        return parsed, [extra for extra in extras if extra not in words]


class _Parsers(dict[str, argparse.ArgumentParser]):
    """The named subcommands; any other name is the generic parser."""

    def __init__(self, named: dict[str, argparse.ArgumentParser], generic: KindParser) -> None:
        super().__init__(named)
        self.generic = generic

    def __missing__(self, key: str) -> argparse.ArgumentParser:
        return self.generic


class _AnyWord:
    """``choices`` that accept every word (argparse checks choices before looking one up)."""

    def __init__(self, parsers: _Parsers) -> None:
        self.parsers = parsers

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str)

    def __iter__(self) -> Iterator[str]:
        return iter(self.parsers)


def accept_any_kind(
    commands: Subcommands, verb: str, generic: KindParser, metavar: str, help_text: str
) -> None:
    """Route ``dockyard <verb> WORD`` to ``generic`` for every WORD no group registered."""
    subcommands = verbs.subcommands(commands, verb)
    parsers = _Parsers(subcommands._name_parser_map, generic)
    subcommands._name_parser_map = parsers
    subcommands.choices = _AnyWord(parsers)  # type: ignore[assignment]  # argparse reads it
    pseudo: Any = subcommands._ChoicesPseudoAction(metavar, (), help_text)
    subcommands._choices_actions.insert(0, pseudo)


def add_kind_parser(commands: Subcommands, name: str, **kwargs: Any) -> KindParser:
    """``commands.add_parser`` making a ``KindParser``."""
    default = commands._parser_class
    commands._parser_class = KindParser
    try:
        parser = commands.add_parser(name, **kwargs)
    finally:
        commands._parser_class = default
    assert isinstance(parser, KindParser)
    return parser


def add_scope_flags(parser: argparse.ArgumentParser, all_namespaces: bool = True) -> None:
    verbs.add_namespace_flag(parser)
    if all_namespaces:
        parser.add_argument(
            "-A",
            "--all-namespaces",
            action="store_true",
            help="every project you may see (namespaced kinds)",
        )


def add_selector_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-l",
        "--selector",
        metavar="SELECTOR",
        help="only objects with these labels: key=value, key!=value, key in (a,b), !key",
    )


def add_output_flag(parser: argparse.ArgumentParser, wide: bool = True) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=OUTPUTS if wide else OUTPUTS[:3],
        help="json, yaml, name (kind/name) or wide (more columns)"
        if wide
        else "json, yaml or name",
    )


def words_of(args: argparse.Namespace, verb: str | None = None) -> list[str]:
    """The command line's words after the verb: the kind (taken by the shared subcommand
    parser when ``verb`` is given) and the names."""
    words: list[str] = list(getattr(args, "words", None) or [])
    if verb is not None:
        words.insert(0, getattr(args, f"{verb}_subcommand"))
    return words
