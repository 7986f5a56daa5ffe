"""The random streams of a run, named in one place: training draws from ``seed``, every other stream from ``seed``
plus one of these offsets, so no two streams draw the same numbers."""

MAX_SEED = 2**31 - 1
"""Seeds run from 0 to this; the evaluations' seeds add offsets of up to 30 000, and torch takes < 2**63."""
VALIDATION_SEED_OFFSET = 1000
"""The validation tasks and seeds (choosing the later-step scale or a baseline's step size): ``seed + 1000``."""
EVALUATION_TASK_SEED_OFFSET = 10_000
"""The training-time evaluation's held-out tasks: ``seed + 10_000``."""
EVALUATION_SAMPLING_SEED_OFFSET = 20_000
"""The training-time evaluation's sampling: ``seed + 20_000``."""
PROTOCOL_SEED_OFFSET = 30_000
"""The paper's protocol's test tasks and sampling: ``seed + 30_000``. Training itself uses ``seed``; every other
stream is offset from it by one of these, so no two draw the same numbers."""
