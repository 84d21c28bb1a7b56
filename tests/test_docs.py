"""The README and docs/ stay honest where it is cheap to check: links resolve, commands parse, and the README's
API table names exactly the app's endpoints."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("CONTRIBUTING.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"```(?:bash|sh|console)\n(.*?)```", re.DOTALL)
ENDPOINT_ROW = re.compile(r"^\| `(/\w+)` \|", re.MULTILINE)


def _relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(page.read_text())
            if not re.match(r"^[a-z]+:", target) and not target.startswith("#")]


def test_every_relative_link_resolves():
    broken = [f"{page.relative_to(ROOT)} -> {target}" for page in PAGES for target in _relative_links(page)
              if not (page.parent / target.split("#")[0]).exists()]
    assert not broken, broken
    assert sum(len(_relative_links(page)) for page in PAGES) > 20  # the check sees the links there are


def test_every_docs_page_is_one_click_from_the_readme():
    linked = {(ROOT / target).resolve() for target in _relative_links(ROOT / "README.md")}
    pages = {page.resolve() for page in (ROOT / "docs").glob("*.md")}
    assert pages and pages <= linked, sorted(p.name for p in pages - linked)


def test_the_readme_stays_short():
    text = (ROOT / "README.md").read_text()
    assert text.count("\n") < 200 and len(text.encode()) < 12 * 1024


def _commands() -> dict[tuple[str, ...], set[str]]:
    """Each engine command the pages show (module and subcommand) with the flags they show it with."""
    commands: dict[tuple[str, ...], set[str]] = {}
    for page in PAGES:
        for block in FENCE.findall(page.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0].strip()
                if line.startswith("nst "):
                    words = ["nst_core", *shlex.split(line)[1:]]
                elif line.startswith("python -m "):
                    words = shlex.split(line)[2:]
                else:
                    continue
                sub = [w for w in words[1:2] if re.fullmatch(r"[a-z_]+", w)]
                flags = {w.split("=")[0] for w in words if w.startswith("--")}
                commands.setdefault((words[0], *sub), set()).update(flags)
    return commands


def test_the_pages_show_engine_commands():
    shown = _commands()
    assert ("nst_core", "image") in shown and ("nst_core.weights", "verify") in shown, sorted(shown)


HELP_ALL = """
import contextlib, io, json, runpy, sys
answers = {}
for command in json.loads(sys.argv[1]):
    sys.argv, shown, code = [command[0], *command[1:], "--help"], io.StringIO(), None
    with contextlib.redirect_stdout(shown):
        try:
            runpy.run_module(command[0], run_name="__main__", alter_sys=True)
        except SystemExit as exit:
            code = exit.code
    answers[" ".join(command)] = [code, shown.getvalue()]
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def helps() -> dict[str, list]:
    """Every command's ``--help`` (exit code, text), all in one interpreter: the imports are paid once."""
    import json

    done = subprocess.run([sys.executable, "-c", HELP_ALL, json.dumps(sorted(_commands()))], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("command", sorted(_commands()), ids=" ".join)
def test_every_command_shown_parses_with_help_and_knows_its_flags(command, helps):
    code, text = helps[" ".join(command)]
    assert code in (0, None) and "usage:" in text, (code, text[-500:])
    unknown = sorted(flag for flag in _commands()[command] if flag not in text and flag != "--help")
    assert not unknown, f"{' '.join(command)} does not offer {unknown}"


def test_the_readme_api_table_names_exactly_the_apps_endpoints():
    import app

    table = set(ENDPOINT_ROW.findall((ROOT / "README.md").read_text()))
    demo = app.build_app()
    offered = set(demo.get_api_info()["named_endpoints"])
    assert table == offered, {"in the README only": table - offered, "on the app only": offered - table}
