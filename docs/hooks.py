"""MkDocs hooks for pydron's documentation site (mkdocs.yml: hooks).

- reference/c.md is generated from include/pydron.h: its section banners
  become sections, each declaration group is shown with the comment above it.
  A PYDRON_API function without a comment is a build warning (so `mkdocs
  build --strict` fails).
- changelog.md is the repository's CHANGELOG.md.
- `<!-- pydron:include PATH -->` shows a file of the repository as code and
  `<!-- pydron:output python ARGS... -->` runs the installed pydron (this
  interpreter) and shows what it prints, so the docs show examples and their
  output as they really are.
"""

from __future__ import annotations

import html
import logging
import os
import pathlib
import re
import shlex
import subprocess
import sys

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.plugins.pydron")
ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADER = ROOT / "include" / "pydron.h"


# --------------------------------------------------------------------------
# C API reference from pydron.h
# --------------------------------------------------------------------------
def _comment_text(lines):
    """The text of a /* ... */ comment, one string per line."""
    out = []
    for ln in lines:
        s = ln.strip()
        s = re.sub(r"^/\*+", "", s)
        s = re.sub(r"\*+/$", "", s)
        s = re.sub(r"^\* ?", "", s.strip()) if not s.startswith("*/") else ""
        out.append(s.rstrip())
    return out


def _names(code):
    names = []
    for m in re.finditer(r"PYDRON_API\b[^;(]*?\b(pydron_\w+)\s*\(", code):
        names.append(m.group(1))
    for m in re.finditer(r"^#define\s+(PYDRON_\w+)", code, re.M):
        names.append(m.group(1))
    for m in re.finditer(r"\}\s*(pydron_\w+)\s*;", code):
        names.append(m.group(1))
    for m in re.finditer(r"^typedef\s[^;{]*?\(?\*?\s*\b(pydron_\w+)\)?\s*(?:\(|;)", code, re.M):
        names.append(m.group(1))
    return list(dict.fromkeys(names))


def _anchor(name):
    return name  # ids are case-sensitive: PYDRON_VERSION_STRING and pydron_version_string


def _prose(lines, known):
    """Comment lines -> HTML paragraphs, names of the API linked."""
    paras, cur = [], []
    for ln in lines + [""]:
        if not ln.strip():
            if cur:
                paras.append(cur)
            cur = []
        else:
            cur.append(ln)
    out = []
    for p in paras:
        text = "<br>\n".join(html.escape(l) if l.lstrip().startswith(("-", "1", "2", "3"))
                             else html.escape(l) for l in p) if any(
            l.lstrip().startswith("- ") for l in p) else html.escape(" ".join(l.strip() for l in p))

        def link(m):
            n = m.group(0)
            return f'<a href="#{_anchor(n)}"><code>{n}</code></a>' if n in known else f"<code>{n}</code>"
        text = re.sub(r"\b(?:pydron|PYDRON)_\w+", link, text)
        out.append(f"<p>{text}</p>")
    return "\n".join(out)


def parse_header(text):
    """[(title, intro_lines, [(comment_lines, code), ...])]"""
    lines = text.splitlines()
    sections = [("Conventions", [], [])]
    i, n = 0, len(lines)
    while i < n:
        ln = lines[i]
        if ln.startswith("/* ----"):
            j = i + 1
            while not lines[j].strip().startswith("* ----"):
                j += 1
            body = _comment_text(lines[i + 1:j])
            title = body[0].strip()
            sections.append((title, body[1:], []))
            i = j + 1
            continue
        if not ln.strip():
            i += 1
            continue
        # a block: an optional leading comment, then code up to a blank line
        comment = []
        if ln.lstrip().startswith("/*"):
            j = i
            while "*/" not in lines[j]:
                j += 1
            comment = _comment_text(lines[i:j + 1])
            i = j + 1
        code = []
        while i < n and lines[i].strip() and not lines[i].startswith("/* ----"):
            if lines[i].lstrip().startswith("/*") and code and "*/" not in lines[i]:
                break  # the next block's comment (no blank line between)
            code.append(lines[i])
            i += 1
        sections[-1][2].append((comment, "\n".join(code)))
    return sections


def c_reference(header_text):
    sections = parse_header(header_text)
    known = set()
    for _t, _intro, blocks in sections:
        for _c, code in blocks:
            known.update(_names(code))
    out = ["# C API reference", "",
           "Generated from the comments in `include/pydron.h`, the only public header. "
           "The contracts in long form (ownership, threads, locks) are on the "
           "[C API contracts](../c-api.md) page.", ""]
    documented = set()
    for title, intro, blocks in sections:
        shown = [(c, code) for c, code in blocks if _names(code)]
        if title == "Conventions":
            conv = next((c for c, code in blocks if c and any("Conventions" in l for l in c)), None)
            if conv:
                out += ["## Conventions", "", _prose(conv, known), ""]
            continue
        if not shown:
            continue
        out += [f"## {title}", ""]
        if any(l.strip() for l in intro):
            out += [_prose(intro, known), ""]
        for comment, code in shown:
            names = _names(code)
            anchors = "".join(f'<a id="{_anchor(x)}"></a>' for x in names)
            label = ", ".join(f"`{x}`" for x in names[:3]) + (" …" if len(names) > 3 else "")
            out += [f"### {label}", "", anchors, "", "```c", code, "```", ""]
            if comment:
                out += [_prose(comment, known), ""]
                documented.update(names)
            else:
                # a comment inside the code (struct fields, enum values) counts
                if "/*" in code:
                    documented.update(names)
    missing = sorted(x for x in known - documented if not x.isupper() and "(" not in x)
    return "\n".join(out) + "\n", missing


# --------------------------------------------------------------------------
# mkdocs events
# --------------------------------------------------------------------------
def on_files(files, config):
    page, missing = c_reference(HEADER.read_text())
    for name in missing:
        if re.search(rf"PYDRON_API\b[^;(]*\b{name}\s*\(", HEADER.read_text()):
            log.warning("include/pydron.h: public function %s has no doc comment", name)
    files.append(File.generated(config, "reference/c.md", content=page))
    files.append(File.generated(config, "changelog.md",
                                content=(ROOT / "CHANGELOG.md").read_text()))
    return files


_MARK = re.compile(r"<!--\s*pydron:(include|output)\s+(.*?)\s*-->")


def _run(argv):
    if not argv or argv[0] != "python":
        raise ValueError(f"pydron:output runs `python ...` only, not {argv!r}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYDRON_")}
    env.update(COLUMNS="80", PYTHONHASHSEED="0", PYDRON_WORKERS="2")
    r = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"docs: `{' '.join(argv)}` failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r.stdout


def on_page_markdown(markdown, page, config, files):
    def repl(m):
        kind, arg = m.group(1), m.group(2)
        if kind == "include":
            path = ROOT / arg
            lang = "python" if path.suffix == ".py" else "c" if path.suffix in (".c", ".h") else ""
            return f"```{lang}\n{path.read_text().rstrip()}\n```"
        return "```text\n" + _run(shlex.split(arg)).rstrip() + "\n```"
    return _MARK.sub(repl, markdown)
