"""Regenerate the ``--help`` sections of docs/cli.md from the argparse parser itself.

Each section sits under a ``<!-- generated: fastnn CMD --help -->`` comment and is replaced
in place; the prose around it is kept. Help is formatted at a fixed width of 88 columns,
so the page does not depend on the terminal it was made in.

    python docs/gen_cli.py          # rewrite docs/cli.md
    python docs/gen_cli.py --check  # exit 1 if the page is out of date
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "cli.md"
WIDTH = 88
SECTION = re.compile(r"(<!-- generated: (fastnn[\w ]*--help) -->\n```text\n)(.*?)(```\n)",
                     re.DOTALL)


def parsers() -> dict[str, argparse.ArgumentParser]:
    """``{"fastnn --help": parser, "fastnn train --help": subparser, ...}``."""
    from fastnn.cli import build_parser

    root = build_parser()
    found = {"fastnn --help": root}
    for action in root._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[f"fastnn {name} --help"] = sub
    return found


def help_texts() -> dict[str, str]:
    """The help text of every command, formatted at WIDTH columns."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH + 2)  # argparse wraps at COLUMNS - 2
    try:
        return {command: parser.format_help() for command, parser in parsers().items()}
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def render(page: str) -> str:
    """``page`` with every generated section replaced by the current help text."""
    texts = help_texts()
    return SECTION.sub(lambda m: m.group(1) + texts[m.group(2)] + m.group(4), page)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether it is current")
    args = parser.parse_args(argv)
    old = PAGE.read_text(encoding="utf-8")
    new = render(old)
    if args.check:
        print("docs/cli.md is " + ("current" if new == old else "out of date"))
        return int(new != old)
    PAGE.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
