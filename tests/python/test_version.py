"""One version everywhere: include/pydron.h is the source of truth, and the
installed package, its metadata, the compiled header and the linked library
agree with it (the CMake package, pkg-config and SONAME are checked by
tests/install/check_install.sh)."""

import importlib.metadata
import pathlib
import re

import pydron
from pydron import _core

ROOT = pathlib.Path(__file__).resolve().parents[2]


def header_version():
    text = (ROOT / "include" / "pydron.h").read_text()
    parts = [int(re.search(rf"#define PYDRON_VERSION_{k} (\d+)", text).group(1))
             for k in ("MAJOR", "MINOR", "PATCH")]
    string = re.search(r'#define PYDRON_VERSION_STRING "([^"]+)"', text).group(1)
    assert string == "%d.%d.%d" % tuple(parts), "pydron.h's version macros disagree"
    return string, parts


def test_every_version_is_the_headers():
    want, (major, minor, patch) = header_version()
    assert pydron.__version__ == want
    assert importlib.metadata.version("pydron") == want     # the wheel's metadata
    assert _core.VERSION_STRING == want                      # header the extension saw
    assert _core.version_string() == want                    # pydron_version_string()
    assert _core.version() == major * 10000 + minor * 100 + patch


def test_changelog_has_the_current_version():
    want, _ = header_version()
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## (\S+)", text, re.M)
    assert headings and headings[0] in ("Unreleased", want), headings
    assert want in headings, f"CHANGELOG.md has no section for {want}: {headings}"
