"""The deliverable's machinery: it reads ``results/`` and ``benchmarks/results.json`` and never trains.

* :mod:`~hw14_lib.report.data`: the report's view of the runs (seeds, statistics, the paper's numbers).
* :mod:`~hw14_lib.report.numbers` and :mod:`~hw14_lib.report.tables`: every number and table the text quotes.
* :mod:`~hw14_lib.report.tex`: LaTeX formatting of those numbers.
* :mod:`~hw14_lib.report.assets`: ``report/generated/`` (numbers, tables, figures) from the results.
* :mod:`~hw14_lib.report.latex_build`: the PDF.
* :mod:`~hw14_lib.report.packaging`: the course's submission zip.

Nothing below this package imports it.
"""
