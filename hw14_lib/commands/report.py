"""``report-assets`` (the report's figures, tables and numbers, optionally the PDF) and ``package`` (the
course's submission zip)."""

from __future__ import annotations

import argparse
from typing import Any


def add_report_assets_parser(subparsers: Any) -> None:
    """The ``report-assets`` sub-command's arguments."""
    parser = subparsers.add_parser(
        "report-assets",
        help="regenerate the report's figures, tables and numbers",
        description="Regenerate report/generated/ (figures, tables, numbers.tex) from results/ and "
        "benchmarks/results.json; missing inputs read n/a. With --build, also build HW14_Solution.pdf.",
    )
    parser.add_argument("--results", default="results", help="results folder (default: results)")
    parser.add_argument("--benchmarks", default="benchmarks/results.json", help="benchmark results JSON")
    parser.add_argument("--out", default="report/generated", help="output folder (default: report/generated)")
    parser.add_argument("--student-number", default=None, help="student number for the title page (digits)")
    parser.add_argument("--full-name", default=None, help="full name for the title page (CamelCase, e.g. JaneDoe)")
    parser.add_argument("--build", action="store_true", help="then build HW14_Solution.pdf with latexmk")
    parser.set_defaults(handler=report_assets_command)


def report_assets_command(args: argparse.Namespace) -> int:
    """``report-assets``: the report's figures, tables and numbers (optionally the PDF)."""
    from hw14_lib.report.assets import generate_report_assets
    from hw14_lib.report.latex_build import build_pdf
    from hw14_lib.report.packaging import display_name, validate_full_name, validate_student_number

    student = {}
    if args.full_name is not None:
        student["student_name"] = display_name(validate_full_name(args.full_name))
    if args.student_number is not None:
        student["student_number"] = validate_student_number(args.student_number)
    written = generate_report_assets(results=args.results, benchmarks=args.benchmarks, out=args.out, **student)
    print(f"wrote {len(written)} files to {args.out}/")
    if args.build:
        print(f"built {build_pdf('HW14_Solution.tex')}")
    return 0


def add_package_parser(subparsers: Any) -> None:
    """The ``package`` sub-command's arguments."""
    parser = subparsers.add_parser(
        "package",
        help="build the report and the course submission zip",
        description="Rebuild HW14_Solution.pdf and write dist/DRL_HW14_<StudentNumber>_<FullName>.zip with the "
        "PDF, the LaTeX sources (HW14_Solution.zip) and Notebooks/ (the notebook, hw14_lib, configs, results and a "
        "README). The notebook must hold the outputs of a full-mode run: a copy saved after Run All in quick mode "
        "(HW14_QUICK=1), or with a code cell not executed or showing an error, is refused (exit 2, nothing written); "
        "`git checkout Notebooks/HW14_MAML.ipynb` restores the committed one.",
    )
    parser.add_argument("--student-number", required=True, help="digits only, e.g. 400123456")
    parser.add_argument("--full-name", required=True, help="CamelCase without spaces, e.g. JaneDoe")
    parser.add_argument("--notebook", default=None, help="notebook to submit (default: Notebooks/HW14_MAML.ipynb)")
    parser.add_argument("--dist", default="dist", help="output folder (default: dist)")
    parser.set_defaults(handler=package_command)


def package_command(args: argparse.Namespace) -> int:
    """``package``: the report and the course's submission zip."""
    from hw14_lib.report.packaging import build_submission

    path = build_submission(
        student_number=args.student_number, full_name=args.full_name, notebook=args.notebook, dist=args.dist
    )
    print(f"wrote {path}")
    return 0
