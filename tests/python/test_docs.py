"""The documentation site builds with `mkdocs build --strict` (no warnings:
broken links and anchors between pages fail it), without network; the C API
reference covers every public function of pydron.h; the examples' output on
the pages is what they really print."""

import html
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def mkdocs(config, site, cwd=ROOT):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYDRON_")}
    # no network: a proxy that refuses everything
    env.update(http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                           "-d", str(site)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_site_builds_strict_with_generated_reference_and_output(tmp_path):
    site = tmp_path / "site"
    r = mkdocs(ROOT / "mkdocs.yml", site)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "WARNING" not in r.stderr, r.stderr
    # every public function of the header has its entry in the C reference
    header = (ROOT / "include" / "pydron.h").read_text()
    public = set(re.findall(r"PYDRON_API\b[^;(]*?\b(pydron_\w+)\s*\(", header))
    assert len(public) > 50
    c_ref = (site / "reference" / "c" / "index.html").read_text()
    ids = set(re.findall(r'id="(pydron_\w+)"', c_ref))
    assert public <= ids, sorted(public - ids)
    # the Python reference has the decorators' docstrings
    py_ref = (site / "reference" / "python" / "index.html").read_text()
    for name in ("schedule", "functional", "configure"):
        assert f'id="pydron.{name}"' in py_ref or f'id="pydron.config.{name}"' in py_ref, name
    # the first example's output, as it prints it now, is on the page
    out = subprocess.run([sys.executable, "docs/examples/first.py"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYDRON_WORKERS": "2"}).stdout
    page = html.unescape(re.sub(r"<[^>]+>", "", (site / "getting-started" / "index.html").read_text()))
    assert out.strip() and out.strip() in page
    # and the command line page is the commands' own --help
    cli = html.unescape(re.sub(r"<[^>]+>", "", (site / "cli" / "index.html").read_text()))
    assert "--executor NAME" in cli and "python -m pydron worker" in cli
    assert (site / "changelog" / "index.html").exists()
    assert (site / "search" / "search_index.json").exists()


def test_broken_link_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n\n[gone](nowhere.md) and [anchor](#no-such-heading)\n")
    cfg = tmp_path / "mkdocs.yml"
    # our validation settings, on a one-page site without the hooks
    cfg.write_text(f"INHERIT: {ROOT / 'mkdocs.yml'}\ndocs_dir: {docs}\nhooks: []\n"
                   "plugins: [search]\nnav: [index.md]\nexclude_docs: ''\n")
    r = mkdocs(cfg, tmp_path / "site", cwd=tmp_path)
    assert r.returncode != 0
    assert "nowhere.md" in r.stderr and "no-such-heading" in r.stderr, r.stderr


def test_undocumented_public_function_is_reported():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import hooks
    finally:
        sys.path.pop(0)
    header = (ROOT / "include" / "pydron.h").read_text()
    _page, missing = hooks.c_reference(header)
    assert not [m for m in missing if re.search(rf"PYDRON_API\b[^;(]*\b{m}\s*\(", header)]
    bare = header.replace("#endif /* PYDRON_H */",
                          "\nPYDRON_API int pydron_undocumented(void);\n\n#endif /* PYDRON_H */")
    assert bare != header
    _page, missing = hooks.c_reference(bare)
    assert "pydron_undocumented" in missing
