"""Build a LaTeX document with latexmk and refuse a PDF with errors or undefined references.

``latexmk -pdf`` runs pdflatex (and BibTeX when needed) until the cross-references settle. The
build fails, with :class:`LatexError` naming the first problem, when

* latexmk or pdflatex is not installed;
* pdflatex stops on an error (``-halt-on-error``; the message is the log's first ``!`` line);
* the final log still reports an undefined reference or citation.

Build products stay in ``build_dir``; only the PDF is copied next to the ``.tex`` file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from hw14_lib.common.io_utils import atomic_write

LATEX_PACKAGES = "texlive-latex-base texlive-latex-extra texlive-fonts-recommended latexmk poppler-utils"
_UNDEFINED = re.compile(r"LaTeX Warning: (Reference|Citation) [`']([^']*)' on page \S+ undefined")


class LatexError(ValueError):
    """The document could not be built into a clean PDF; the message says why, in one line."""


def latex_available() -> bool:
    """Whether ``latexmk`` and ``pdflatex`` are on the ``PATH``."""
    return shutil.which("latexmk") is not None and shutil.which("pdflatex") is not None


def build_pdf(
    tex: str | os.PathLike[str], *, build_dir: str | os.PathLike[str] | None = None, timeout: float = 600
) -> Path:
    """Compile ``tex`` with latexmk and copy the PDF to ``<tex without .tex>.pdf``.

    Args:
        tex: the main ``.tex`` file; latexmk runs in its folder.
        build_dir: folder for the auxiliary files (default ``<tex folder>/report/build``).
        timeout: seconds before the build is abandoned.

    Returns:
        The PDF's path, next to ``tex``.

    Raises:
        LatexError: TeX Live is missing, LaTeX stopped on an error, or a reference or citation is
            undefined in the final pass.
    """
    tex = Path(tex).resolve()
    if not tex.is_file():
        raise LatexError(f"{tex} does not exist")
    if not latex_available():
        raise LatexError(
            "latexmk/pdflatex are not installed, so the PDF cannot be rebuilt; run `make report` once "
            f"(it installs them) or `apt-get install -y {LATEX_PACKAGES}`"
        )
    build = Path(build_dir).resolve() if build_dir is not None else tex.parent / "report" / "build"
    build.mkdir(parents=True, exist_ok=True)
    command = [
        "latexmk",
        "-pdf",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
        f"-outdir={build}",
        tex.name,
    ]
    try:
        proc = subprocess.run(command, cwd=tex.parent, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LatexError(f"latexmk did not finish {tex.name} within {timeout:.0f} s") from exc
    log_path = build / tex.with_suffix(".log").name
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.is_file() else ""
    if proc.returncode != 0:
        raise LatexError(f"LaTeX failed on {tex.name}: {first_error(log, proc.stdout + proc.stderr)} (log: {log_path})")
    undefined = undefined_references(log)
    if undefined:
        raise LatexError(f"{tex.name} has undefined references or citations: {', '.join(undefined)} (log: {log_path})")
    built = build / tex.with_suffix(".pdf").name
    if not built.is_file():
        raise LatexError(f"latexmk finished but wrote no {built.name} (log: {log_path})")
    return atomic_write(tex.with_suffix(".pdf"), lambda tmp: shutil.copyfile(built, tmp))


def first_error(log: str, output: str = "") -> str:
    """The first error of a LaTeX log, on one line (``file:line: message`` or ``! message``)."""
    for line in log.splitlines():
        if line.startswith("!") or re.match(r"^\S+\.(tex|sty|cls):\d+: ", line):
            return line.lstrip("! ").strip()
    tail = [line.strip() for line in output.splitlines() if line.strip()]
    return tail[-1] if tail else "no log was written"


def undefined_references(log: str) -> list[str]:
    """Keys of references and citations that the log reports as undefined, in order, once each."""
    keys = [f"{kind.lower()} {key}" for kind, key in _UNDEFINED.findall(log)]
    if not keys and "There were undefined references" in log:
        keys = ["(unnamed)"]
    return list(dict.fromkeys(keys))
