"""The study of many runs: the registered experiments and how they are run (jobs, a Ray cluster), the 40-task
evaluation protocol and its table, diagnostics, and the figures that compare runs. Builds on ``run/``."""
