"""A public MAML-RL implementation's design on this project's stack, timed beside hw14_lib on the same batch.

pytorch-maml-rl (T. Deleu, github.com/tristandeleu/pytorch-maml-rl: ``MultiTaskSampler`` and ``MAMLTRPO``) is
re-implemented here from its design, on the same PyTorch, MuJoCo and Gymnasium environment as hw14_lib:

* **sampling**: worker processes (one per core) take tasks from a queue; each steps a synchronous vector of
  N Gymnasium environments (``hw14/HalfCheetahDir-v0``) with a ``torch.distributions`` policy forward at every
  step, fits the linear baseline, takes one first-order inner step and samples the query trajectories with it;
  the trajectories come back pickled;
* **the outer step**: the learner rebuilds each task's inner step with its graph, and TRPO takes the mean KL's
  Hessian-vector products by autograd through the inner step (third order), 10 conjugate-gradient iterations
  (damping 1e-5) and a line search of up to 15 steps (ratio 0.8), pytorch-maml-rl's HalfCheetah settings.

The batch is ``configs/dir.yaml``'s (B = 20 direction tasks x N = 20 trajectories x T = 200 steps, alpha = 0.1,
a 64-64 tanh policy). One meta-iteration of each, hw14_lib with two physics threads and this design with two
workers, alternate for ``--rounds`` rounds after a warm-up; the medians' env steps per second and their ratio go
under ``maml_rl_style`` in ``--out`` (``make bench`` runs it after the other benchmarks).

Usage: ``python benchmarks/maml_rl_style.py [--rounds 3] [--out benchmarks/results.json]`` (a few minutes).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing as mp
import statistics
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal, kl_divergence
from torch.nn.utils import parameters_to_vector, vector_to_parameters

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:  # run as a script from anywhere, and importable by spawned workers
        sys.path.insert(0, str(path))

from hw14_lib.rl.advantages import discounted_returns, fit_linear_baseline  # noqa: E402
from hw14_lib.rl.envs import register_envs  # noqa: E402
from hw14_lib.rl.tasks import Task  # noqa: E402
from hw14_lib.rl.trust_region import conjugate_gradient  # noqa: E402

B, N, T, ALPHA, GAMMA = 20, 20, 200, 0.1, 0.99
MAX_KL, CG_ITERS, CG_DAMPING, LS_STEPS, LS_RATIO = 1e-2, 10, 1e-5, 15, 0.8
OBS_DIM, ACT_DIM = 17, 6


class NormalMLPPolicy(nn.Module):
    """A Gaussian MLP whose forward takes a parameter dict and returns a ``torch.distributions`` object."""

    def __init__(self, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        sizes = (OBS_DIM, *hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.mu = nn.Linear(sizes[-1], ACT_DIM)
        self.sigma = nn.Parameter(torch.zeros(ACT_DIM))

    def forward(self, obs: Tensor, params: dict[str, Tensor] | None = None) -> Independent:
        params = OrderedDict(self.named_parameters()) if params is None else params
        x = obs
        for i in range(len(self.layers)):
            x = torch.tanh(nn.functional.linear(x, params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]))
        mu = nn.functional.linear(x, params["mu.weight"], params["mu.bias"])
        return Independent(Normal(mu, torch.exp(torch.clamp(params["sigma"], min=math.log(1e-6)))), 1)

    def update_params(
        self, loss: Tensor, params: dict[str, Tensor] | None, step_size: float, first_order: bool
    ) -> dict[str, Tensor]:
        params = OrderedDict(self.named_parameters()) if params is None else params
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
        return OrderedDict((name, p - step_size * g) for (name, p), g in zip(params.items(), grads, strict=True))


def advantages(observations: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """Returns-to-go minus the linear baseline (GAE with lambda 1), normalized; ``(N, T)``."""
    returns = discounted_returns(torch.from_numpy(rewards), GAMMA).numpy()
    values = fit_linear_baseline(torch.from_numpy(observations)[None], torch.from_numpy(returns)[None])[0].numpy()
    adv = returns - values
    return (adv - adv.mean()) / (adv.std() + 1e-8)


def reinforce_loss(policy: NormalMLPPolicy, episodes: dict[str, np.ndarray], params: Any = None) -> Tensor:
    pi = policy(torch.from_numpy(episodes["obs"]), params)
    return -(pi.log_prob(torch.from_numpy(episodes["actions"])) * torch.from_numpy(episodes["adv"])).mean()


_WORKER: dict[str, Any] = {}


def _init_worker() -> None:
    torch.set_num_threads(1)
    register_envs()
    _WORKER["envs"] = gym.vector.SyncVectorEnv(
        [lambda: gym.make("hw14/HalfCheetahDir-v0", max_episode_steps=T) for _ in range(N)]
    )
    _WORKER["policy"] = NormalMLPPolicy()


def _roll_out(params: Any, seed: int) -> dict[str, np.ndarray]:
    envs, policy = _WORKER["envs"], _WORKER["policy"]
    obs, _ = envs.reset(seed=seed)
    records: dict[str, list[np.ndarray]] = {"obs": [], "actions": [], "rewards": []}
    with torch.no_grad():
        for _ in range(T):
            observations = obs.astype(np.float32)
            actions = policy(torch.from_numpy(observations), params).sample().numpy()
            obs, rewards, _, _, _ = envs.step(actions)
            for key, value in (("obs", observations), ("actions", actions), ("rewards", rewards)):
                records[key].append(value)
    episodes = {k: np.stack(v, axis=1).astype(np.float32) for k, v in records.items()}  # (N, T, ...)
    episodes["adv"] = advantages(episodes["obs"].astype(np.float64), episodes["rewards"].astype(np.float64))
    episodes["adv"] = episodes["adv"].astype(np.float32)
    return episodes


def _sample_task(job: tuple[float, dict[str, Tensor], int]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One task in a worker: support trajectories, one first-order inner step, query trajectories."""
    direction, state, seed = job
    envs, policy = _WORKER["envs"], _WORKER["policy"]
    policy.load_state_dict(state)
    envs.set_attr("task", Task.of_direction(direction))  # every copy's reward
    support = _roll_out(None, seed)
    params = policy.update_params(reinforce_loss(policy, support), None, ALPHA, first_order=True)
    return support, _roll_out({k: v.detach() for k, v in params.items()}, seed + 1)


def surrogate_loss(
    policy: NormalMLPPolicy, support: dict, query: dict, old_pi: Independent | None
) -> tuple[Tensor, Tensor, Independent]:
    first_order = old_pi is not None
    params = policy.update_params(reinforce_loss(policy, support), None, ALPHA, first_order=first_order)
    with torch.set_grad_enabled(old_pi is None):
        pi = policy(torch.from_numpy(query["obs"]), params)
        if old_pi is None:
            old_pi = Independent(Normal(pi.base_dist.loc.detach(), pi.base_dist.scale.detach()), 1)
        actions = torch.from_numpy(query["actions"])
        ratio = torch.exp(pi.log_prob(actions) - old_pi.log_prob(actions))
        loss = -(ratio * torch.from_numpy(query["adv"])).mean()
        return loss, kl_divergence(pi, old_pi).mean(), old_pi


def trpo_step(policy: NormalMLPPolicy, tasks: list[tuple[dict, dict]]) -> None:
    """MAMLTRPO.step: the meta-gradient, the KL's Hessian by autograd through the inner step, CG, line search."""
    parameters = list(policy.parameters())
    results = [surrogate_loss(policy, s, q, None) for s, q in tasks]
    old_loss = sum(r[0] for r in results) / len(tasks)
    grads = parameters_to_vector(torch.autograd.grad(old_loss, parameters, retain_graph=True))
    kl = sum(r[1] for r in results) / len(tasks)
    flat_grad_kl = parameters_to_vector(torch.autograd.grad(kl, parameters, create_graph=True))

    def hvp(v: Tensor) -> Tensor:
        return parameters_to_vector(torch.autograd.grad(flat_grad_kl @ v, parameters, retain_graph=True)) + (
            CG_DAMPING * v
        )

    step_dir = conjugate_gradient(hvp, grads, iterations=CG_ITERS)
    step = step_dir / torch.sqrt(0.5 * (step_dir @ hvp(step_dir)) / MAX_KL)
    old = parameters_to_vector(parameters).detach()
    size = 1.0
    for _ in range(LS_STEPS):
        vector_to_parameters(old - size * step, parameters)
        trial = [surrogate_loss(policy, s, q, r[2]) for (s, q), r in zip(tasks, results, strict=True)]
        loss, kl_new = sum(t[0] for t in trial) / len(tasks), sum(t[1] for t in trial) / len(tasks)
        if (loss - old_loss).item() < 0 and kl_new.item() < MAX_KL:
            return
        size *= LS_RATIO
    vector_to_parameters(old, parameters)


def port_case(pool: Any, policy: NormalMLPPolicy, rng: np.random.Generator) -> int:
    """One meta-iteration of the port; returns its env steps."""
    state = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    jobs = [(float(d), state, int(rng.integers(2**30))) for d in rng.choice([-1.0, 1.0], size=B)]
    trpo_step(policy, pool.map(_sample_task, jobs))
    return 2 * B * N * T


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args(argv)
    from bench_meta_iteration import hw14_case, training_config

    torch.set_num_threads(1)
    torch.manual_seed(0)
    hw14 = hw14_case(training_config(ROOT / "configs" / "dir.yaml", 2))
    policy, rng = NormalMLPPolicy(), np.random.default_rng(0)
    rates: dict[str, list[float]] = {"hw14_lib": [], "maml-rl-style": []}
    with mp.get_context("spawn").Pool(2, initializer=_init_worker) as pool:
        for round_ in range(args.rounds + 1):  # round 0 warms up
            for name, run in (("hw14_lib", hw14), ("maml-rl-style", lambda: port_case(pool, policy, rng))):
                start = time.perf_counter()
                steps = run()
                rate = steps / (time.perf_counter() - start)
                if round_:
                    rates[name].append(rate)
            print(f"round {round_}/{args.rounds}", {k: f"{v[-1]:,.0f}" for k, v in rates.items() if v}, flush=True)
    result = {
        "batch": "configs/dir.yaml: B = 20, N = 20, T = 200, TRPO; two threads (hw14_lib) or two worker processes",
        "rounds": args.rounds,
        "steps_per_s": {k: statistics.median(v) for k, v in rates.items()},
        "rounds_steps_per_s": rates,
    }
    result["hw14_over_port"] = result["steps_per_s"]["hw14_lib"] / result["steps_per_s"]["maml-rl-style"]
    merged = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    merged["maml_rl_style"] = result
    args.out.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
