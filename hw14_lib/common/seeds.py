"""The random streams of a run, named in one place: training draws from ``seed``, every other stream from ``seed``
plus one of these offsets, so that within one run no two streams draw the same numbers (across runs they may:
seed 0's validation stream is seed 1000's training stream)."""

MAX_SEED = 2**31 - 1
"""Seeds run from 0 to this (2**31 - 1); with the offsets below added they stay far below the 2**63 torch takes."""
VALIDATION_SEED_OFFSET = 1000
"""The validation tasks and seeds (choosing the later-step scale or a baseline's step size): ``seed + 1000``."""
EVALUATION_TASK_SEED_OFFSET = 10_000
"""The training-time evaluation's held-out tasks: ``seed + 10_000``."""
EVALUATION_SAMPLING_SEED_OFFSET = 20_000
"""The training-time evaluation's sampling: ``seed + 20_000``."""
PROTOCOL_SEED_OFFSET = 30_000
"""The paper's protocol's test tasks and sampling: ``seed + 30_000``."""
