"""The Ray path's overhead against the local one, side by side on one machine (``make bench-cluster``).

A one-node loopback cluster with two CPUs (:func:`hw14_lib.study.cluster.local_cluster`), then, alternating the two
paths ``--repeats`` times:

* the smoke suite (two 20-iteration experiments): ``results --suite smoke --jobs 2`` (two local processes, one
  physics thread each) against ``results --suite smoke --ray ADDRESS`` (two tasks, one CPU each);
* one short real experiment: the paper's direction configuration for 3 meta-iterations (40 x 20 trajectories of
  200 steps, TRPO, then the final evaluation), ``results``-style in a local process with two physics threads
  against one Ray task with two CPUs.

Each time is a whole command, start to exit (interpreter, imports, Ray's connection and worker start included).
Writes ``benchmarks/cluster.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hw14_lib.study.cluster import LOOPBACK_ENV, local_cluster

REPO = Path(__file__).resolve().parents[1]
SHORT = (
    "import sys; from pathlib import Path; from hw14_lib.study.experiment_runs import run_configured; "
    "from hw14_lib.study.experiments import Experiment; "
    "exp = Experiment('short', 'configs/paper_dir.yaml', {'iterations': 3}); "
    "cfg = exp.load_config(physics_threads=2); "
    "run_configured(cfg, Path(sys.argv[1]), progress=False)"
)
SHORT_RAY = (
    "import sys; from pathlib import Path; from hw14_lib.study.cluster import run_grid; "
    "from hw14_lib.study.experiments import Experiment; "
    "exp = Experiment('short', 'configs/paper_dir.yaml', {'iterations': 3}); "
    "run_grid([exp], address=sys.argv[2], root=Path(sys.argv[1]), physics_threads=2, report=lambda _: None)"
)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, env={**os.environ, **LOOPBACK_ENV}, check=True, capture_output=True)
    return time.perf_counter() - start


def main(repeats: int = 2) -> dict[str, object]:
    py = [sys.executable]
    work = Path(tempfile.mkdtemp(prefix="hw14-bench-"))
    temp = Path(f"/tmp/hw14-ray-bench-{os.getpid()}")
    times: dict[str, list[float]] = {"smoke_local": [], "smoke_ray": [], "short_local": [], "short_ray": []}
    try:
        with local_cluster(2, temp) as cluster:
            for i in range(repeats):
                results = [*py, "-m", "hw14_lib", "results", "--suite", "smoke", "--no-progress"]
                times["smoke_local"].append(timed([*results, "--jobs", "2", "--root", str(work / f"sl{i}")]))
                times["smoke_ray"].append(timed([*results, "--ray", cluster.address, "--root", str(work / f"sr{i}")]))
                times["short_local"].append(timed([*py, "-c", SHORT, str(work / f"hl{i}" / "short")]))
                times["short_ray"].append(timed([*py, "-c", SHORT_RAY, str(work / f"hr{i}"), cluster.address]))
                print({k: round(v[-1], 1) for k, v in times.items()}, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(temp, ignore_errors=True)
    best = {k: min(v) for k, v in times.items()}
    result = {
        "repeats": repeats,
        "seconds": times,
        "best_seconds": best,
        "ray_over_local": {
            "smoke": best["smoke_ray"] / best["smoke_local"],
            "short_experiment": best["short_ray"] / best["short_local"],
        },
        "ray_minus_local_seconds": {
            "smoke": best["smoke_ray"] - best["smoke_local"],
            "short_experiment": best["short_ray"] - best["short_local"],
        },
    }
    (REPO / "benchmarks" / "cluster.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'':24s} {'local (s)':>10s} {'Ray (s)':>10s} {'Ray/local':>10s}")
    for name, key in (("smoke suite (2 x 20 it.)", "smoke"), ("paper_dir, 3 iterations", "short")):
        local, ray = best[f"{key}_local"], best[f"{key}_ray"]
        print(f"{name:24s} {local:10.1f} {ray:10.1f} {ray / local:10.2f}")
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
