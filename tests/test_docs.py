"""The README is a front page and its links, and those of `docs/`, lead
somewhere: every relative link names an existing file (and, with
`#anchor`, an existing heading), and every results file a page cites is
committed."""
import os
import re

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(REPO_ROOT, "docs")
PAGES = [os.path.join(REPO_ROOT, "README.md")] + sorted(
    os.path.join(DOCS, name) for name in os.listdir(DOCS)
    if name.endswith(".md"))

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
RESULTS = re.compile(r"benchmarks/results/[\w.\-]+\.(?:json|md|png|csv)\b")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _without_code(text):
    """The page without its fenced code blocks (links there are code)."""
    return re.sub(r"```.*?```", "", text, flags=re.S)


def github_anchor(heading):
    """The anchor GitHub gives a markdown heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    return {github_anchor(line.lstrip("#"))
            for line in _without_code(_read(path)).splitlines()
            if line.startswith("#")}


def test_github_anchor_follows_github():
    assert (github_anchor("What SimSiam's loss should look like (and why "
                          "keras-io's does not)")
            == "what-simsiams-loss-should-look-like-and-why-keras-ios-does-not")
    assert github_anchor("Answers without training: the `kzoo` command "
                         "line") == ("answers-without-training-the-kzoo-"
                                     "command-line")


@pytest.mark.parametrize("page", PAGES, ids=os.path.basename)
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(_without_code(_read(page))):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (os.path.normpath(os.path.join(os.path.dirname(page),
                                                  path))
                    if path else page)
        if not os.path.exists(resolved):
            broken.append(f"{target}: no file {resolved}")
        elif anchor and resolved.endswith(".md") and (
                anchor not in anchors(resolved)):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, broken


@pytest.mark.parametrize("page", PAGES, ids=os.path.basename)
def test_cited_results_files_are_committed(page):
    missing = sorted({name for name in RESULTS.findall(_read(page))
                      if not os.path.exists(os.path.join(
                          REPO_ROOT, name.rstrip(".")))})
    assert not missing, missing


def test_readme_is_a_front_page():
    """At most ~300 lines; the topics live in docs/, each page linked."""
    readme = _read(os.path.join(REPO_ROOT, "README.md"))
    assert len(readme.splitlines()) <= 300
    for page in PAGES[1:]:
        assert f"docs/{os.path.basename(page)}" in readme, page
