"""One training run: its configuration and the checks on it, its folder, lock and progress, training, the
held-out evaluation, the video and its plots. Reads the algorithm (``rl/``) and ``common/``, never a study."""
