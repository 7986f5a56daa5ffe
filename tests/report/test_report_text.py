"""The report as its reader meets it: a main body of at most ten pages that ends with a conclusion, no
box in the margin, no development-tracker wording, and no result typed by hand into the prose."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from hw14_lib.report.latex_build import latex_available
from hw14_lib.report.packaging import build_report

ROOT = Path(__file__).resolve().parents[2]
TEX = ROOT / "HW14_Solution.tex"
MAIN_BODY_PAGES = 10
TRACKER_WORDS = re.compile(
    r"\btargets?\b|\bstretch\b|\bthe bar\b|\bso far\b|\bfirst version\b|\bissue\s*\d+"
    r"|\bthe seed(?:'s)?\b(?! (?:of|\d))",
    re.IGNORECASE,
)
"""Working words of the project's tracker that a reader cannot decode ("the seed" was the starter code)."""
HAND_TYPED_RESULT = re.compile(r"(?<![\w.{\\^-])-?\d{2,}\.\d+\b")
"""A number with decimals and two or more integer digits (a return, a time): such numbers come from \\val{}."""


def _prose(tex: str) -> str:
    """The report's text without comments and the bibliography (titles and years are not results)."""
    text = "\n".join(line.split("%")[0] if not line.lstrip().startswith("%") else "" for line in tex.splitlines())
    return text.split(r"\begin{thebibliography}")[0]


def test_no_tracker_wording() -> None:
    found = [m.group(0) for m in TRACKER_WORDS.finditer(_prose(TEX.read_text(encoding="utf-8")))]
    assert not found, f"tracker wording in {TEX.name}: {found}"


def test_no_result_typed_by_hand() -> None:
    prose = re.sub(r"\\val\{[^}]*\}", "", _prose(TEX.read_text(encoding="utf-8")))
    found = [m.group(0) for m in HAND_TYPED_RESULT.finditer(prose)]
    assert not found, f"numbers typed by hand into {TEX.name} (quote them with \\val{{}}): {found}"


def test_tracker_and_number_checks_can_fail() -> None:
    assert TRACKER_WORDS.search("the stretch target was met") and TRACKER_WORDS.search("issue 23")
    assert TRACKER_WORDS.search("as the seed did") and not TRACKER_WORDS.search("the seed of the task stream")
    assert HAND_TYPED_RESULT.search("reaches 293.2 after") and not HAND_TYPED_RESULT.search("MuJoCo 3.3.7, 0.05 s")


def test_conclusion_ends_the_main_body_before_the_appendices() -> None:
    tex = TEX.read_text(encoding="utf-8")
    conclusion, end, appendix = (
        tex.find(r"\label{sec:conclusion}"),
        tex.find(r"\label{sec:end-of-main}"),
        tex.find(r"\appendix"),
    )
    assert 0 < conclusion < end < appendix, "the conclusion must close the main body, before \\appendix"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report built from the committed results in a temporary folder: its build folder (log, aux), as
    :func:`~hw14_lib.report.packaging.build_report` names it."""
    if not latex_available():
        if os.environ.get("CI"):
            pytest.fail("TeX Live is required in CI (.ci/run installs it)")
        pytest.skip("latexmk/pdflatex are not installed (make tex installs them)")
    dest = tmp_path_factory.mktemp("report") / "src"
    build_report(ROOT, dest)
    return dest.parent / f"{dest.name}-build"


def _label_page(aux: str, label: str) -> int:
    match = re.search(r"\\newlabel\{" + re.escape(label) + r"\}\{\{[^}]*\}\{(\d+)\}", aux)
    assert match, f"label {label} missing from the .aux file"
    return int(match.group(1))


@pytest.mark.slow
def test_main_body_is_at_most_ten_pages(built: Path) -> None:
    aux = (built / "HW14_Solution.aux").read_text(encoding="utf-8")
    pages = _label_page(aux, "sec:end-of-main") - _label_page(aux, "sec:intro") + 1
    assert pages <= MAIN_BODY_PAGES, f"the main body runs over {pages} pages"


@pytest.mark.slow
def test_no_overfull_box_wider_than_one_point(built: Path) -> None:
    log = (built / "HW14_Solution.log").read_text(encoding="utf-8", errors="replace")
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w <= 1.0 for w in widths), f"overfull boxes of {widths} pt (tables or text in the margin)"


def test_difference_reading_follows_the_printed_z() -> None:
    from hw14_lib.report.paper_table import difference_reading

    assert (
        difference_reading([None, 2.04, 2.1, 1.4])
        == "ahead of MAML after two steps; level with MAML after one and three steps"
    )
    assert (
        difference_reading([0, -0.2, -1.6, -2.3])
        == "level with MAML after one and two steps; behind MAML after three steps"
    )
    assert difference_reading([0, 3, 3, 3]) == "ahead of MAML after one, two and three steps"
    assert difference_reading([0, 1, None, 1]) is None


def test_the_notebooks_text_holds_no_result_typed_by_hand() -> None:
    """Numbers about results live in the notebook's outputs (computed from results/), not in its markdown."""
    import json

    notebook = json.loads((ROOT / "Notebooks" / "HW14_MAML.ipynb").read_text(encoding="utf-8"))
    markdown = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
    found = [m.group(0) for m in HAND_TYPED_RESULT.finditer(markdown)]
    assert not found, f"numbers typed into the notebook's markdown: {found}"
    assert not TRACKER_WORDS.search(markdown), TRACKER_WORDS.search(markdown)
