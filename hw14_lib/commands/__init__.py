"""The sub-commands of ``python -m hw14_lib`` (:mod:`hw14_lib.cli`), one module each (two related ones share
a module): each ``add_*_parser(subparsers)`` declares a sub-command's arguments next to the ``*_command(args)``
that runs it and returns the exit status. Bad input raises :class:`~hw14_lib.commands.common.UsageError` (or
``ValueError``, ``TypeError``, ``FileNotFoundError``), which :func:`hw14_lib.cli.main` reports in one line.
Heavy modules are imported inside each command, so ``--help`` stays fast.
"""
