"""The wording helpers every page uses (explorer.text)."""
from __future__ import annotations

import re

from explorer.text import count, md


def test_count_says_one_and_many():
    assert count(1, "run") == "1 run" and count(3, "run") == "3 runs" and count(2, "class", "classes") == "2 classes"


def test_md_escapes_every_markdown_character_and_nothing_else():
    name = "**β=4** [x](y) `z` # 1. a_b <i> ~$:|!{}+-\\"
    out = md(name)
    assert re.sub(r"\\(.)", r"\1", out) == name                       # undoing the escapes gives the name back
    bare = re.sub(r"\\.", "", out)                                      # what is left unescaped
    assert not set(bare) & set("\\`*_{}[]()#+-.!|<>~$:") and "β=4" in bare and " a" in bare
    assert md("plain name 7") == "plain name 7"
