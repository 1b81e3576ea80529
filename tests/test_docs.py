"""Every ```python block of README.md and docs/*.md runs on the current API, prints what the
page says it prints, and the site builds with ``mkdocs build --strict``.

Conventions in the Markdown (HTML comments, invisible on the rendered page), each on the
line(s) just before a block's opening fence:

- ``<!-- skip: reason -->``: the block is not run; each one is reported as a skipped test
  with its page, line and reason (``pytest -ra`` lists them).
- ``<!-- shortened -->``: the block is written on smaller data than a real run (a slice
  such as ``X[:2000]``, fewer epochs) and the page says so; it runs as written.
  ``<!-- shortened: OLD => NEW; OLD2 => NEW2 -->`` runs the block with those literal
  replacements (each OLD must occur), for a block that shows the full-size call.

Blocks of one page run in order in one namespace, in a fresh temporary working directory.
A block followed by a ```text (or ```output) block must print exactly that, up to
whitespace (runs of blanks collapse, blank lines and line ends are ignored); ``...`` in
the expected text matches anything, across lines too.

    python -m pytest tests/test_docs.py
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^(```+)\s*([\w+-]*)\s*$")
MARKER = re.compile(r"^<!--\s*(skip|shortened)\s*(?::\s*(.*?))?\s*-->$")
CLI_SECTION = re.compile(
    r"<!-- generated: (?P<command>fastnn[\w ]*--help) -->\n```text\n(?P<text>.*?)```\n",
    re.DOTALL)


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    code: str
    expected: str | None = None  # the ```text block right after it, if any
    skip: str | None = None  # the reason, if marked skip
    replacements: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _fenced(lines: list[str]):
    """Yield (language, first line index, body lines, index after the closing fence)."""
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        ticks, language = opening.group(1), opening.group(2).lower()
        end = i + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        yield language, i, lines[i + 1:end], end + 1
        i = end + 1


def _markers_before(lines: list[str], index: int) -> list[tuple[str, str]]:
    """The (kind, argument) markers on the comment lines just above line ``index``."""
    found = []
    j = index - 1
    while j >= 0 and lines[j].strip() == "":
        j -= 1
    while j >= 0 and lines[j].strip().startswith("<!--"):
        match = MARKER.match(lines[j].strip())
        if match:
            found.append((match.group(1), match.group(2) or ""))
        j -= 1
    return found


def blocks(page: Path) -> list[Block]:
    """The python blocks of ``page`` in order, with their markers and expected output."""
    lines = page.read_text(encoding="utf-8").splitlines()
    result: list[Block] = []
    previous_end = None
    for language, start, body, end in _fenced(lines):
        if language in ("text", "output") and result and previous_end is not None:
            between = lines[previous_end:start]
            if all(not line.strip() for line in between) and result[-1].expected is None:
                result[-1].expected = "\n".join(body)
            previous_end = None
            continue
        previous_end = None
        if language not in ("python", "py"):
            continue
        block = Block(page, start + 1, "\n".join(body) + "\n")
        for kind, argument in _markers_before(lines, start):
            if kind == "skip":
                block.skip = argument or "no reason given"
            elif argument:
                pairs = [part.split("=>") for part in argument.split(";") if part.strip()]
                if any(len(pair) != 2 for pair in pairs):
                    raise ValueError(f"{block.where}: shortened marker needs 'OLD => NEW' "
                                     f"pairs separated by ';', got {argument!r}")
                block.replacements += tuple((a.strip(), b.strip()) for a, b in pairs)
        result.append(block)
        previous_end = end
    return result


def normalise(text: str) -> str:
    """Lines with runs of blanks collapsed and ends stripped; blank lines dropped."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def output_matches(expected: str, actual: str) -> bool:
    """``actual`` equals ``expected`` up to whitespace, each ``...`` matching anything."""
    pattern = ".*?".join(re.escape(part) for part in normalise(expected).split("..."))
    return re.fullmatch(pattern, normalise(actual), re.DOTALL) is not None


def _source(block: Block) -> str:
    code = block.code
    for old, new in block.replacements:
        assert old in code, f"{block.where}: shortened marker's {old!r} is not in the block"
        code = code.replace(old, new)
    return code


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


SKIPPED = [block for page in PAGES for block in blocks(page) if block.skip]
PAGES_WITH_CODE = [page for page in PAGES if any(not block.skip for block in blocks(page))]


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_page_id)
def test_page_snippets_run(page, tmp_path, monkeypatch):
    """The page's python blocks run in order in one namespace and print what it shows."""
    runnable = [block for block in blocks(page) if not block.skip]
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for block in runnable:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(_source(block), block.where, "exec"), namespace)
            except Exception as exc:
                if _missing_matplotlib(exc):
                    pytest.skip(f"{block.where}: needs matplotlib, which is not installed "
                                f"(pip install 'fastnn[plot]'), as the plotting tests do")
                raise AssertionError(f"{block.where}: the block raised "
                                     f"{type(exc).__name__}: {exc}") from exc
        if block.expected is not None:
            assert output_matches(block.expected, out.getvalue()), (
                f"{block.where}: printed output differs from the page\n--- page:\n"
                f"{block.expected}\n--- printed:\n{out.getvalue()}")


def _missing_matplotlib(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is matplotlib failing to
    import because it is not installed."""
    if importlib.util.find_spec("matplotlib") is not None:
        return False
    while exc is not None:
        if isinstance(exc, ImportError) and (exc.name or "").split(".")[0] == "matplotlib":
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def test_a_page_that_plots_is_skipped_without_matplotlib(tmp_path, monkeypatch):
    """As tests/test_plot.py is: matplotlib is an optional extra."""
    for name in [n for n in sys.modules if n.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # import matplotlib now fails
    monkeypatch.setitem(globals(), "ROOT", tmp_path)  # where block.where counts from
    page = tmp_path / "page.md"
    page.write_text("```python\nimport fastnn as fnn\nfrom fastnn.plot import plot_history\n"
                    "h = fnn.History()\nh.append(loss=1.0)\nplot_history(h, 'h.png')\n```\n")
    with pytest.raises(pytest.skip.Exception, match="needs matplotlib"):
        test_page_snippets_run(page, tmp_path, monkeypatch)


def test_the_changelog_is_written_for_users():
    """Its newest section is the package's version (not an Unreleased heading beside it),
    and it holds no issue numbers, notes to developers or source paths."""
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "(.+)"$', pyproject, re.MULTILINE).group(1)
    newest = re.search(r"^## \[(.+?)\]", changelog, re.MULTILINE).group(1)
    assert newest == version
    internal = re.findall(r"issue \d+|<!--|kernels/|tests/|bench/", changelog, re.IGNORECASE)
    assert not internal, internal


@pytest.mark.parametrize("block", SKIPPED, ids=[block.where for block in SKIPPED])
def test_skipped_block(block):
    """One skipped test per ``<!-- skip: reason -->`` block, so ``-ra`` lists each reason."""
    pytest.skip(f"{block.where}: {block.skip}")


def test_cli_page_matches_the_help():
    """docs/cli.md holds the ``--help`` of every command: each description, option and help
    line as argparse has it now, up to whitespace (argparse's layout differs between Python
    versions, so the words are compared, not the columns). Regenerate the page with
    ``python docs/gen_cli.py``."""
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import gen_cli
    finally:
        sys.path.remove(str(ROOT / "docs"))
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    sections = {m.group("command"): " ".join(m.group("text").split())
                for m in CLI_SECTION.finditer(page)}
    parsers = gen_cli.parsers()
    assert sorted(sections) == sorted(parsers), "docs/cli.md lacks or has extra commands"
    for command, parser in parsers.items():
        words = [parser.description, parser.epilog]
        for action in parser._actions:
            words += [*action.option_strings, action.help]
        for text in filter(None, words):
            assert " ".join(text.split()) in sections[command], (
                f"docs/cli.md: '{command}' lacks {text!r}; run python docs/gen_cli.py")


def test_marker_parsing(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- skip: needs a GPU -->\n```python\nraise SystemExit\n```\n\n"
                    "<!-- shortened: 60000 => 600 -->\n```python\nprint(60000)\n```\n\n"
                    "```text\n600\n```\n```bash\nls\n```\n```python\nx = 1\n```\n")
    skipped, shortened, plain = blocks(page)
    assert skipped.skip == "needs a GPU" and skipped.line == 2
    assert shortened.replacements == (("60000", "600"),) and shortened.expected == "600"
    assert plain.expected is None and plain.skip is None
    assert output_matches("loss 0.1...\n acc  ...", "loss 0.123  \n\nacc 0.9 (s)")
    assert not output_matches("loss 0.2", "loss 0.25")


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None
                    or importlib.util.find_spec("mkdocstrings") is None,
                    reason="mkdocs and mkdocstrings are not installed: pip install -e '.[docs]'")
def test_mkdocs_build_strict(tmp_path):
    """The site builds with warnings as errors (broken links, missing API names)."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    documented = set(re.findall(r'<h[2-6] id="([^"]+)"', api))
    missing = [name for name in public_names() if not documented_as(name, documented)]
    assert not missing, f"docs/api.md renders no entry for {missing}"


def documented_as(name: str, anchors: set[str]) -> bool:
    """``fastnn.X`` may be documented where it is defined, as ``fastnn.<module>.X``."""
    module, _, short = name.rpartition(".")
    return name in anchors or (module == "fastnn" and any(
        anchor.startswith("fastnn.") and anchor.count(".") == 2
        and anchor.endswith("." + short) for anchor in anchors))


def exported(module) -> list[str]:
    """``module.__all__``, or else the public names defined in the module itself."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, value in vars(module).items() if not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__]


def public_names() -> list[str]:
    """The qualified name of every public entry of fastnn and of its public submodules
    (``__all__`` where a module has one)."""
    import importlib
    import types

    import fastnn

    submodules = [f"fastnn.{name}" for name in fastnn.__all__
                  if isinstance(getattr(fastnn, name), types.ModuleType)]
    names = []
    for module in ("fastnn", *submodules):
        for name in exported(importlib.import_module(module)):
            if not name.startswith("__"):
                names.append(f"{module}.{name}")
    return names
