"""Numerical faults: a non-finite loss or gradient stops before the optimizer step and keeps the last good
checkpoint; ``log_std`` stays in its bounds; random configurations run or are refused clearly; the pretraining
objective and a zero TRPO meta-gradient."""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw14_lib.cli import main
from hw14_lib.common.io_utils import read_jsonl
from hw14_lib.rl import outer
from hw14_lib.rl.outer import AdamMetaOptimizer, NonFiniteError, project_log_std
from hw14_lib.rl.policy import LOG_STD_BOUNDS, GaussianMLPPolicy, load_policy, policy_params
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.run_folder import CHECKPOINT, METRICS
from hw14_lib.run.training import train

from conftest import checkpoint_iteration, line_count, smoke_config, train_argv

# --- 5. numerical faults ---------------------------------------------------------------------------


def _poison(loss: torch.Tensor, theta: dict[str, torch.Tensor], quantity: str) -> torch.Tensor:
    """NaN in the loss, or a finite loss whose gradient is NaN (``where``'s masked branch: 0 * inf)."""
    if quantity == "meta-loss":
        return loss + math.nan
    x = sum(p.sum() for p in theta.values())
    return loss + torch.where(torch.tensor(False), x * math.inf, torch.zeros(()))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("quantity", "optimizer"), [("meta-loss", "adam"), ("meta-gradient", "adam"), ("meta-gradient", "trpo")]
)
def test_non_finite_quantity_stops_before_the_step_and_keeps_the_checkpoint(
    quantity: str, optimizer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    k, out = 3, tmp_path / "run"
    calls, seen = [], {}

    def outer_step_call(policy, theta) -> bool:
        """Count one outer step's meta-objective; at the k-th, record the state and say to poison it."""
        calls.append(1)
        if len(calls) == k:
            seen["checkpoint"] = (out / CHECKPOINT).read_bytes()
            seen["theta"] = {n: v.detach().clone() for n, v in theta.items()}
            seen["policy"] = policy
        return len(calls) == k

    real_objective, real_gradient = outer.meta_objective, outer.meta_gradient

    def faulty_objective(policy, theta, batch, inner, **kwargs):  # Adam's (TRPO's line search passes create_graph)
        loss, adapted = real_objective(policy, theta, batch, inner, **kwargs)
        if kwargs.get("create_graph", True) and outer_step_call(policy, theta):
            loss = _poison(loss, theta, quantity)
        return loss, adapted

    def faulty_gradient(policy, theta, batch, inner, wrt, **kwargs):  # TRPO's, task by task
        loss, grads, adapted = real_gradient(policy, theta, batch, inner, wrt, **kwargs)
        if outer_step_call(policy, theta):
            grads = [g + math.nan for g in grads]
        return loss, grads, adapted

    monkeypatch.setattr(outer, "meta_objective", faulty_objective)
    monkeypatch.setattr(outer, "meta_gradient", faulty_gradient)
    pattern = rf"^{quantity} is not finite; iteration {k} stopped before the optimizer step; .* keeps iteration {k - 1}"
    with pytest.raises(NonFiniteError, match=pattern) as info:
        train(smoke_config(outer_optimizer=optimizer), out, progress=False, evaluate=False)
    assert info.value.quantity == quantity
    assert (out / CHECKPOINT).read_bytes() == seen["checkpoint"], "the last good checkpoint changed"
    assert checkpoint_iteration(out) == k - 1
    assert line_count(out / METRICS) == k - 1
    for name, value in policy_params(seen["policy"]).items():
        assert torch.equal(value.detach(), seen["theta"][name]), f"{name} was stepped"


@pytest.mark.slow
def test_cli_reports_a_non_finite_gradient_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = outer.meta_objective

    def faulty(policy, theta, batch, inner, **kwargs):
        loss, adapted = real(policy, theta, batch, inner, **kwargs)
        return _poison(loss, theta, "meta-gradient"), adapted

    monkeypatch.setattr(outer, "meta_objective", faulty)
    assert main(train_argv(tmp_path / "run")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: meta-gradient is not finite; iteration 1 stopped before the optimizer step")
    assert checkpoint_iteration(tmp_path / "run") == 0


@pytest.mark.slow
def test_log_std_parameter_is_projected_into_its_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_step = AdamMetaOptimizer.step

    def overshooting_step(self, batch, inner):  # the policy far past the lower bound: the step must project it
        with torch.no_grad():
            self.policy.log_std -= 100.0
        return real_step(self, batch, inner)

    monkeypatch.setattr(AdamMetaOptimizer, "step", overshooting_step)
    train(smoke_config(iterations=2), tmp_path / "run", progress=False, evaluate=False)
    policy = load_policy(tmp_path / "run" / "policy.pt")
    assert torch.equal(policy.log_std.detach(), torch.full((6,), LOG_STD_BOUNDS[0]))
    assert [r["log_std_mean"] for r in read_jsonl(tmp_path / "run" / METRICS)] == [LOG_STD_BOUNDS[0]] * 2


def test_projection_keeps_the_distribution_and_revives_the_gradient() -> None:
    """Why project: the forward clamp already bounds sigma, but past the bound its gradient is zero."""
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(17, 6)
    obs, actions = torch.randn(4, 17), torch.randn(4, 6)

    def std_and_grad() -> tuple[torch.Tensor, torch.Tensor]:
        policy.zero_grad()
        dist = policy(obs)
        policy.log_prob(dist, actions).sum().backward()
        return dist.base_dist.stddev.detach(), policy.log_std.grad.clone()

    with torch.no_grad():
        policy.log_std.fill_(-9.0)
    std_outside, grad_outside = std_and_grad()
    project_log_std(policy)
    std_projected, grad_projected = std_and_grad()
    assert torch.equal(std_outside, std_projected)
    assert torch.all(grad_outside == 0) and torch.all(grad_projected != 0)


# --- property: random configurations ---------------------------------------------------------------

# Invalid for most fields (a few happen to be valid for some: 0 for entropy_coef, -1 for a velocity).
INVALID = st.sampled_from([None, "x", "0.1", True, [1], {"a": 1}, -1, 0, 2.5, math.nan, math.inf, -math.inf])
VALID: dict[str, st.SearchStrategy[Any]] = {
    "horizon": st.integers(1, 40),
    "meta_batch_size": st.integers(1, 4),
    "trajectories_per_task": st.integers(1, 4),
    "inner_steps": st.integers(1, 2),
    "inner_lr": st.floats(1e-3, 0.5),
    "outer_lr": st.floats(1e-5, 1e-2),
    "gamma": st.floats(0.5, 1.0),
    "gae_lambda": st.floats(0.5, 1.0),
    "task": st.sampled_from(["backward", "direction", "velocity"]),
    "velocity_low": st.floats(-3.0, 3.0),
    "velocity_high": st.floats(-3.0, 3.0),
    "first_order": st.booleans(),
    "baseline": st.sampled_from(["linear", "none"]),
    "outer_optimizer": st.sampled_from(["adam", "trpo"]),
    "objective": st.sampled_from(["maml", "pretrain"]),
    "inner_estimator": st.sampled_from(["reinforce", "ratio"]),
    "grad_clip": st.one_of(st.none(), st.floats(0.1, 10.0)),
    "hidden_sizes": st.lists(st.integers(1, 16), min_size=1, max_size=2),
    "init_log_std": st.floats(-2.0, 1.0),
    "entropy_coef": st.floats(0.0, 0.1),
}


@st.composite
def random_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A random subset of valid fields, then (two times in three) one bad value or an unknown key."""
    data = draw(st.fixed_dictionaries({}, optional=VALID))
    kind = draw(st.sampled_from(["valid", "bad value", "unknown key"]))
    if kind == "bad value":
        data[draw(st.sampled_from(sorted(VALID)))] = draw(INVALID)
    elif kind == "unknown key":
        data[draw(st.sampled_from(["horizn", "lr", "Gamma", "inner-lr"]))] = draw(st.one_of(INVALID, st.integers()))
    return data


@pytest.mark.slow
@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=random_configs())
def test_random_configs_are_accepted_and_run_or_rejected_clearly(data: dict[str, Any]) -> None:
    try:
        cfg = TrainConfig.from_dict(data)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        named = [name for name in data if name in message]
        assert named, f"the message names none of the given fields: {message}"
        return
    tiny = dataclasses.replace(
        cfg,
        iterations=1,
        horizon=min(cfg.horizon, 8),
        meta_batch_size=min(cfg.meta_batch_size, 2),
        trajectories_per_task=min(cfg.trajectories_per_task, 2),
        physics_threads=1,
    )
    with tempfile.TemporaryDirectory() as folder:
        summary = train(tiny, Path(folder) / "run", progress=False, evaluate=False)
        assert summary is not None and summary["iterations"] == 1
        record = read_jsonl(Path(folder) / "run" / METRICS)[0]
        assert all(math.isfinite(v) for k, v in record.items() if k != "kl"), record


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "trpo"])
def test_pretrain_objective_runs_an_iteration(optimizer: str, tmp_path: Path) -> None:
    """Found by the property test: the pretrain objective (no support sets) crashed with IndexError."""
    summary = train(
        smoke_config(iterations=1, objective="pretrain", outer_optimizer=optimizer),
        tmp_path / "run",
        progress=False,
        evaluate=False,
    )
    assert summary["iterations"] == 1
    record = read_jsonl(tmp_path / "run" / METRICS)[0]
    assert record["support_return"] == record["query_return"]  # both sampled at theta


@pytest.mark.slow
def test_trpo_with_a_zero_meta_gradient_takes_no_step(tmp_path: Path) -> None:
    """Found by the property test: one trajectory of one step gives standardized advantages of 0,
    a zero meta-gradient, and conjugate gradient divided 0 by 0 (a spurious NonFiniteError)."""
    cfg = smoke_config(iterations=1, outer_optimizer="trpo", trajectories_per_task=1, horizon=1)
    train(cfg, tmp_path / "run", progress=False, evaluate=False)
    record = read_jsonl(tmp_path / "run" / METRICS)[0]
    assert record["grad_norm"] == 0.0 and record["accepted_step"] == 0.0
