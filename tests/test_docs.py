"""Documentation that cannot drift: docs/profile.md is what one_run.model.docs generates from the
profile schema (a key without documentation fails), every command-line argument says what it
is, and README names only files the project has."""
import argparse
import re
from pathlib import Path

import pytest

from one_run.cli import build_parser
from one_run.model import docs

ROOT = Path(__file__).resolve().parent.parent


def test_every_profile_key_is_documented_and_docs_profile_md_is_current():
    assert not [key for key in docs.schema_keys() if key not in docs.KEYS]
    assert not [key for key in docs.KEYS if key not in docs.schema_keys()], "documented keys the schema lacks"
    assert (ROOT / "docs" / "profile.md").read_text() == docs.render(), \
        "docs/profile.md is stale: python -m one_run.model.docs > docs/profile.md"


def test_a_key_without_documentation_stops_the_generator(monkeypatch):
    monkeypatch.setitem(docs.schema.CONTAINER_KEYS, "undocumented", docs.schema.STRING)
    with pytest.raises(SystemExit, match="container.undocumented"):
        docs.render()


def subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from ((f"{name} {n}", s) for n, s in subparsers(sub))


def test_every_command_and_argument_has_a_help_text():
    parser = build_parser()
    commands = {a.dest: a for a in parser._actions if isinstance(a, argparse._SubParsersAction)}["command"]
    assert all(choice.help for choice in commands._choices_actions)
    missing = [f"{name}: {action.dest}" for name, sub in subparsers(parser) for action in sub._actions
               if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help]
    assert not missing, missing
    for name, sub in subparsers(parser):
        profile = [a for a in sub._actions if a.dest == "profile"]
        assert not profile or "the deployment's TOML profile" in profile[0].help, name


def test_readme_names_only_documents_the_project_has():
    named = set(re.findall(r"[\w./-]+\.md\b", (ROOT / "README.md").read_text()))
    assert "docs/profile.md" in named
    assert not [name for name in named if not (ROOT / name).exists()]


def test_every_command_says_what_it_does_before_its_flags():
    import argparse

    from one_run.cli import build_parser

    def commands(parser, prefix=""):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield prefix + name, sub
                    yield from commands(sub, prefix + name + " ")

    silent = [name for name, sub in commands(build_parser()) if not sub.description]
    assert not silent, f"--help of these commands says only its flags: {silent}"
