"""The course's starter-code MAML loop, re-implemented from its description as the benchmark's reference.

This is *the starter code's design*, kept deliberately as described (it is what hw14_lib is compared with,
not code to train with):

* one ``HalfCheetahBackward`` environment, stepped one action at a time;
* at every step a policy forward through :func:`torch.func.functional_call` with autograd on,
  ``a ~ d.sample()`` and ``log pi(a | s) = d.log_prob(a)`` kept (with its graph) in a list;
* one trajectory of ``T`` steps for the support set (under ``theta``) and one for the query set
  (under ``theta'``), per task;
* discounted returns ``G_t = sum_k gamma^k r_{t+k}`` and the REINFORCE loss
  ``L(theta) = -(1/T) sum_t G_t log pi_theta(a_t | s_t)``;
* inner step ``theta' = theta - alpha * grad_theta (L_support(theta) + l2 * sum ||theta||^2)`` with
  ``create_graph=True`` (second order);
* outer step: Adam (weight decay) on ``sum_i L_query(theta'_i)`` over a meta-batch of ``B`` tasks.

Defaults are the starter code's: ``alpha = 0.1``, inner L2 ``1e-3``, Adam ``lr = 3e-4`` with weight decay
``1e-4``, ``B = 5``, ``T = 200``, ``gamma = 0.99``, a 64-64 Tanh MLP mean and a state-independent
``log_std``. (The seed used the deprecated ``torch.nn.utils.stateless.functional_call``; this uses
``torch.func.functional_call``, which computes the same thing.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from hw14_lib.rl.envs import HalfCheetahBackward


class SeedPolicy(nn.Module):
    """``pi_theta(a | s) = N(mu_theta(s), diag(exp(log_std)^2))``, ``mu_theta`` a Tanh MLP."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        width = obs_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.Tanh()]
            width = h
        layers.append(nn.Linear(width, act_dim))
        self.mean = nn.Sequential(*layers)
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    def forward(self, obs: Tensor) -> Independent:
        """``Independent(Normal(mu, sigma), 1)``: ``log_prob`` sums over the action dimensions."""
        return Independent(Normal(self.mean(obs), self.log_std.exp()), 1)


@dataclass(frozen=True)
class SeedConfig:
    """The starter code's hyperparameters."""

    inner_lr: float = 0.1
    inner_l2: float = 1e-3
    outer_lr: float = 3e-4
    weight_decay: float = 1e-4
    meta_batch_size: int = 5
    horizon: int = 200
    gamma: float = 0.99


def rollout(
    policy: SeedPolicy, params: dict[str, Tensor], env: HalfCheetahBackward, *, horizon: int, seed: int
) -> tuple[list[Tensor], list[float]]:
    """One trajectory: ``log pi(a_t | s_t)`` (graph kept) and rewards ``r_t``, ``t < T``."""
    obs, _ = env.reset(seed=seed)
    low, high = env.action_space.low, env.action_space.high
    log_probs: list[Tensor] = []
    rewards: list[float] = []
    for _ in range(horizon):
        d = torch.func.functional_call(policy, params, (torch.as_tensor(obs, dtype=torch.float32),))
        a = d.sample()
        log_probs.append(d.log_prob(a))
        obs, r, terminated, truncated, _ = env.step(np.clip(a.numpy(), low, high))
        rewards.append(float(r))
        if terminated or truncated:
            break
    return log_probs, rewards


def discounted_returns(rewards: list[float], gamma: float) -> Tensor:
    """``G_t = sum_{k=0}^{T-t-1} gamma^k r_{t+k}`` by the backward recursion ``G_t = r_t + gamma G_{t+1}``."""
    returns = np.zeros(len(rewards), dtype=np.float32)
    running = 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        returns[t] = running
    return torch.from_numpy(returns)


def reinforce_loss(log_probs: list[Tensor], returns: Tensor) -> Tensor:
    """``-(1/T) sum_t G_t log pi(a_t | s_t)``."""
    return -(returns * torch.stack(log_probs)).mean()


class SeedMAML:
    """The starter code's meta-training loop: one :meth:`meta_iteration` is one outer Adam step."""

    def __init__(self, cfg: SeedConfig = SeedConfig(), *, seed: int = 0):
        torch.manual_seed(seed)
        self.cfg = cfg
        self.env = HalfCheetahBackward()
        obs_dim = int(np.prod(self.env.observation_space.shape))
        act_dim = int(np.prod(self.env.action_space.shape))
        self.policy = SeedPolicy(obs_dim, act_dim)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.outer_lr, weight_decay=cfg.weight_decay)
        self._episode = seed * 1_000_000

    def _next_seed(self) -> int:
        self._episode += 1
        return self._episode

    def meta_iteration(self) -> dict[str, float]:
        """Sample ``B`` support/query trajectory pairs, adapt, and take one Adam step on the meta-loss.

        Returns ``{"meta_loss", "query_return", "env_steps"}``.
        """
        cfg = self.cfg
        theta = dict(self.policy.named_parameters())
        meta_loss = torch.zeros(())
        query_return, env_steps = 0.0, 0
        for _ in range(cfg.meta_batch_size):
            log_probs, rewards = rollout(self.policy, theta, self.env, horizon=cfg.horizon, seed=self._next_seed())
            support_loss = reinforce_loss(log_probs, discounted_returns(rewards, cfg.gamma))
            support_loss = support_loss + cfg.inner_l2 * sum(p.pow(2).sum() for p in theta.values())
            grads = torch.autograd.grad(support_loss, list(theta.values()), create_graph=True)
            adapted = {name: p - cfg.inner_lr * g for (name, p), g in zip(theta.items(), grads, strict=True)}

            q_log_probs, q_rewards = rollout(
                self.policy, adapted, self.env, horizon=cfg.horizon, seed=self._next_seed()
            )
            meta_loss = meta_loss + reinforce_loss(q_log_probs, discounted_returns(q_rewards, cfg.gamma))
            query_return += sum(q_rewards) / cfg.meta_batch_size
            env_steps += len(rewards) + len(q_rewards)
        self.optimizer.zero_grad()
        meta_loss.backward()
        self.optimizer.step()
        return {"meta_loss": meta_loss.item(), "query_return": query_return, "env_steps": env_steps}

    def close(self) -> None:
        """Close the environment."""
        self.env.close()
