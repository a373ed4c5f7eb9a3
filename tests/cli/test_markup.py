"""Square brackets in messages and help are text, never rich markup (which would silently eat them)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import typer
from support import invoke_cli

from detector.cli import app, common, reference

CLI = Path(common.__file__).parent
PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BRACKETED = re.compile(r"\[[^\[\]\s]*\]+")


def _literals(path: Path) -> list[str]:
    """Every string literal of a module, and the constant parts of its f-strings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_every_message_of_the_cli_keeps_its_brackets():
    texts = [t for module in sorted(CLI.glob("*.py")) for t in _literals(module) if "[" in t]
    assert any("[[enforcement.rules]]" in t for t in texts)
    for console in (common.console, common.err):
        for text in texts:
            with console.capture() as captured:
                console.print(text, soft_wrap=True)
            shown = captured.get()
            for token in BRACKETED.findall(text):
                assert token in shown, f"{token!r} lost from the message {text!r}: {shown!r}"


def _helps(command, path=()):
    """(command path, help text) of every command and every option, argument and docstring."""
    yield path, command.help or ""
    for param in command.params:
        yield path, getattr(param, "help", None) or ""
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            yield from _helps(sub, path + (name,))


def test_every_help_text_keeps_its_brackets():
    shown: dict[tuple, str] = {}
    checked = 0
    for path, text in _helps(typer.main.get_command(app)):
        for token in BRACKETED.findall(text):
            if path not in shown:
                shown[path] = " ".join(reference.help_text(path).split())
            assert token in shown[path], f"`copyhound {' '.join(path)} --help` lost {token!r}"
            checked += 1
    assert checked > 5


def test_the_reference_page_has_no_emptied_brackets():
    page = PAGE.read_text(encoding="utf-8")
    assert "[[enforcement.rules]]" in page and "[distributed] redis_url" in page
    assert not re.search(r"\[\]|\( ", page)


def test_enforce_names_the_config_table_to_add(tmp_path):
    assert invoke_cli("init", "--embedder", "none", home=tmp_path / "ws").returncode == 0
    result = invoke_cli("enforce", "--dry-run", home=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    assert "add [[enforcement.rules]] to config.toml" in result.stdout
