"""What every layer above the algorithm shares: the vocabulary of methods and task families (``catalogue``), their
colours (``palette``), the named seed offsets (``seeds``) and atomic file output (``io_utils``). Nothing here
imports from the rest of the package."""
