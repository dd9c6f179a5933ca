"""The README's examples, run (the way sqlite-utils tests its docs): every command it shows must work as shown.

Shell blocks run in order in one fresh working folder with the `legatura` of this venv, as after
`source .venv/bin/activate`; a block after `<!-- readme-test: not run (why) -->` is only parsed. Every
`legatura ...` in the README (blocks and inline code) is parsed by the real CLI, so a renamed command or
option fails here; every TOML block loads through the strict configuration; the Python block runs.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from legatura.flows.cli import app
from legatura.flows.config import load_settings

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
SAMPLE = Path(__file__).parent / "data" / "formats" / "stripe" / "unified_payments_2026-11-12.csv"
NOT_RUN = re.compile(r"<!--\s*readme-test:\s*not run \((?P<why>[^)]+)\)\s*-->\s*$")


def blocks(text: str) -> list[tuple[str, str, str | None]]:
    """(language, body, why not run) of every fenced block; the marker is the line before the fence."""
    found = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[index])
        if not fence:
            index += 1
            continue
        marker = NOT_RUN.match(lines[index - 1]) if index else None
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        found.append((fence.group(1), "\n".join(lines[index + 1:end]), marker.group("why") if marker else None))
        index = end + 1
    return found


def commands(body: str) -> list[list[str]]:
    """The command lines of a shell block, as argument lists (comments dropped)."""
    return [words for line in body.splitlines() if (words := shlex.split(line, comments=True))]


def shell_blocks() -> list[tuple[str, str | None]]:
    return [(body, why) for language, body, why in blocks(README.read_text(encoding="utf-8"))
            if language in ("", "sh", "shell", "console")]


def legatura_examples() -> list[list[str]]:
    """Every `legatura ...` the README shows: in shell blocks and in inline code. Synopses
    (`legatura ingest PATH... [--channel C]`) and names in prose (`legatura track`, `legatura server stop`)
    are left to test_readme_names_only_commands_that_exist."""
    text = README.read_text(encoding="utf-8")
    found = [words[1:] for body, _ in shell_blocks() for words in commands(body)
             if Path(words[0]).name == "legatura"]
    for span in re.findall(r"`(legatura [^`]+)`", text):
        words = shlex.split(span)[1:]
        if not re.search(r"\.\.\.|\[|\]|\||[A-Z]{3,}|/ `", span) and not _only_names(words):
            found.append(words)
    return found


def _only_names(words: list[str]) -> bool:
    """`legatura ingest` in a sentence names the command; it is no command line to run."""
    group = typer.main.get_command(app)
    command = group.commands.get(words[0]) if words else None
    return len(words) == 1 or (len(words) == 2 and hasattr(command, "commands") and words[1] in command.commands)


def test_readme_names_only_commands_that_exist():
    group = typer.main.get_command(app)
    for span in re.findall(r"`legatura ([a-z][\w-]*)", README.read_text(encoding="utf-8")):
        assert span in group.commands, f"the README names `legatura {span}`, which is no command"


def parse(args: list[str]) -> None:
    """Parse an argument list with the real CLI, as `legatura` would, without running the command."""
    group = typer.main.get_command(app)
    context = group.make_context("legatura", list(args), resilient_parsing=False)
    with context:
        name, command, rest = group.resolve_command(context, context._protected_args + context.args)
        while hasattr(command, "commands") and rest:   # legatura server status
            sub = command.make_context(name, rest, parent=context)
            name, command, rest = command.resolve_command(sub, sub._protected_args + sub.args)
        command.make_context(name, rest, parent=context)


def _click_commands():
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        for sub_name, sub in (command.commands.items() if hasattr(command, "commands") else [(None, command)]):
            yield ([name, sub_name] if sub_name else [name]), sub


@pytest.mark.parametrize("args", legatura_examples(), ids=" ".join)
def test_readme_example_is_a_valid_command_line(args):
    try:
        parse(args)
    except typer.Exit as done:   # `legatura --help`
        assert done.exit_code == 0


@pytest.mark.parametrize(("names", "command"), list(_click_commands()), ids=lambda v: " ".join(v)
                         if isinstance(v, list) else "")
def test_every_command_help_ends_with_an_example_that_parses(names, command):
    help_text = (command.help or "").strip()
    last = help_text.split("\n\n")[-1].strip()
    assert last.startswith("Example: legatura "), f"legatura {' '.join(names)}: help must end with an Example:"
    example = shlex.split(last.removeprefix("Example: "))
    assert example[1:1 + len(names)] == names, last
    parse(example[1:])


def test_readme_refers_only_to_files_in_the_repository():
    text = README.read_text(encoding="utf-8")
    linked = re.findall(r"\]\(([^)#\s]+)\)", text)
    named = re.findall(r"`((?:docs|warehouse|tests|transforms|flows|bench|templates)/[\w./-]+\.\w+)`", text)
    named += [name for name in re.findall(r"\b([\w-]+\.md)\b", text)]
    assert linked and named
    for reference in [*linked, *named]:
        if reference.startswith(("http://", "https://")):
            continue
        matches = [ROOT / reference] if "/" in reference else [ROOT / reference, ROOT / "docs" / reference]
        assert any(path.exists() for path in matches), f"README refers to {reference}, which is not in the repository"


def test_readme_config_examples_load_with_the_strict_configuration(tmp_path):
    tomls = [body for language, body, _ in blocks(README.read_text(encoding="utf-8")) if language == "toml"]
    campaigns = [body for body in tomls if body.startswith("# templates/<campaign>/campaign.toml")]
    assert len(tomls) - len(campaigns) >= 2 and campaigns
    for body in tomls:
        if body in campaigns:   # checked as a campaign is: the shipped thank-you's templates beside it
            from legatura.transforms.campaigns import load_campaign

            folder = tmp_path / "templates" / "example"
            shutil.copytree(ROOT / "templates" / "thank-you", folder, dirs_exist_ok=True)
            (folder / "campaign.toml").write_text(body, encoding="utf-8")
            for shared in ("_layouts", "_macros"):
                shutil.copytree(ROOT / "templates" / shared, tmp_path / "templates" / shared, dirs_exist_ok=True)
            load_campaign(tmp_path / "templates", "example")
            continue
        path = tmp_path / "legatura.toml"
        path.write_text(body, encoding="utf-8")
        load_settings(path, env={})


def test_readme_shell_lines_that_are_not_run_are_known(tmp_path):
    """A block marked not run holds only set-up (make targets that exist) or other tools' commands."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for body, why in shell_blocks():
        for words in commands(body):
            if words[0] == "make":
                assert re.search(rf"^{re.escape(words[1])}:", makefile, flags=re.M), words
            elif words[0] == "source":
                assert (BIN / Path(words[1]).name).exists(), words
            elif Path(words[0]).name != "legatura":
                assert why, f"{' '.join(words)}: not legatura; mark its block `<!-- readme-test: not run (why) -->`"


FLOW_COMMANDS = {"ingest", "segment", "track", "run", "demo"}   # run a Prefect flow: seconds each


def run_examples(folder: Path, with_flows: bool) -> dict[str, str]:
    """Every shell block not marked `not run`, in README order, in one working folder; then the Python block.
    Returns each command's output by its first word."""
    landing = folder / "landing" / "stripe"
    landing.mkdir(parents=True)
    shutil.copy(SAMPLE, landing)
    (folder / ".venv").symlink_to(BIN.parent)   # `.venv/bin/legatura` as in the project folder
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}   # as after `source .venv/bin/activate`
    said = {}
    for body, why in shell_blocks():
        if why:
            continue
        for words in commands(body):
            if words[0] == "source":
                continue
            assert Path(words[0]).name == "legatura", words
            if not with_flows and words[1] in FLOW_COMMANDS:
                continue
            result = subprocess.run(words, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, (words, result.stdout, result.stderr)
            said[words[1]] = result.stdout
    pythons = [body for language, body, why in blocks(README.read_text(encoding="utf-8"))
               if language == "python" and not why]
    assert pythons
    for body in pythons:
        result = subprocess.run([sys.executable, "-c", body], cwd=folder, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (body, result.stderr)
    return said


@pytest.mark.subprocess
def test_readme_examples_run_in_a_fresh_folder(tmp_path):
    """The examples that run no Prefect flow (init, sql, config, --help), for real; the others are parsed above."""
    said = run_examples(tmp_path, with_flows=False)
    assert {"init", "sql", "config", "--help"} <= set(said), sorted(said)
    assert "segment_membership,table," in said["sql"] or said["sql"].startswith("segment,")


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.prefect
def test_readme_examples_run_in_a_fresh_folder_with_the_flows(tmp_path, prefect_api):
    """All of them, ingest, segment and track included (about a minute on a busy 2-core machine)."""
    said = run_examples(tmp_path, with_flows=True)
    assert {"init", "ingest", "segment", "track", "sql", "config"} <= set(said), sorted(said)
    assert "read 12, loaded 9, duplicate 0, quarantined 3" in said["ingest"]
