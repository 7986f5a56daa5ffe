"""Input that would fail late, deep or not at all is refused first: out-of-range seeds and sizes (against the
machine's memory), empty or odd paths, unbounded options, non-finite policies and OS errors, each as one line
``error: ...`` with nothing written."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hw14_lib.cli import main
from hw14_lib.rl.policy import load_policy, save_policy
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.config_checks import check_fits_in_memory, estimated_training_bytes
from hw14_lib.run.run_folder import CHECKPOINT
from hw14_lib.run.training import make_policy

from conftest import SMOKE, smoke_config, snapshot, train_argv, unfinished_copy


def _one_error_line(status: int, err: str, *pieces: str, expected_status: int = 2) -> None:
    assert status == expected_status, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for piece in pieces:
        assert piece in err, f"{piece!r} missing from {err!r}"


@pytest.mark.parametrize(
    ("key", "value", "piece"),
    [
        ("seed", "-1", "seed"),
        ("seed", str(2**64), "seed"),
        ("physics_threads", "100000", "physics_threads"),
        ("meta_batch_size", str(10**9), "GiB"),
        ("trajectories_per_task", str(10**9), "GiB"),
        ("eval_tasks", str(10**9), "GiB"),
        ("hidden_sizes", f"[{10**9}]", "GiB"),
    ],
)
def test_out_of_range_values_are_refused_before_anything_is_written(
    key: str, value: str, piece: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(tmp_path)
    status = main(train_argv(tmp_path / "run", "--set", f"{key}={value}"))
    _one_error_line(status, capsys.readouterr().err, piece)
    assert snapshot(tmp_path) == before


def test_the_memory_estimate_grows_with_the_batch_and_admits_the_reports_configurations() -> None:
    small, large = smoke_config(), smoke_config(meta_batch_size=40)
    assert 0 < estimated_training_bytes(small) < estimated_training_bytes(large)
    for name in ("backward", "dir", "vel", "paper_dir", "paper_vel", "paper_dyn"):
        assert estimated_training_bytes(TrainConfig.from_yaml(f"configs/{name}.yaml")) < 2 * 2**30
    with pytest.raises(ValueError, match=r"needs about .* GiB"):
        check_fits_in_memory(large, available=estimated_training_bytes(large) - 1)


@pytest.mark.parametrize("out", ["", " "])
def test_an_empty_out_is_refused(out: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["train", "--config", str(SMOKE), "--out", out, "--no-progress"])
    _one_error_line(status, capsys.readouterr().err, "--out")


def test_an_out_under_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a folder")
    status = main(train_argv(tmp_path / "file" / "run"))
    _one_error_line(status, capsys.readouterr().err, "file", expected_status=1)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.pt"
    save_policy(make_policy(smoke_config()), path)
    return path


@pytest.mark.parametrize(
    ("extra", "piece"),
    [(["--steps", str(10**9)], "--steps"), (["--steps", "-1"], "--steps"), (["--json", "."], "--json")],
)
def test_evaluate_bounds_its_options_before_evaluating(
    extra: list[str], piece: str, policy_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.chdir(policy_file.parent)
    status = main(["evaluate", "--policy", str(policy_file), "--config", str(SMOKE), *extra])
    _one_error_line(status, capsys.readouterr().err, piece)


@pytest.mark.parametrize("alphas", ["nan,-1", "0", "inf"])
def test_diagnose_refuses_step_sizes_that_are_not_finite_and_positive(
    alphas: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["diagnose", "--config", str(SMOKE), "--alphas", alphas])
    _one_error_line(status, capsys.readouterr().err, "--alphas")


@pytest.mark.parametrize("minutes", ["-1", "nan", "0"])
def test_results_refuses_a_time_limit_that_is_not_positive(
    minutes: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["results", "--suite", "smoke", "--root", str(tmp_path), "--max-minutes", minutes])
    _one_error_line(status, capsys.readouterr().err, "--max-minutes")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_non_finite_policy_is_refused_by_name(
    value: float, policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = torch.load(policy_file, weights_only=True)
    payload["state_dict"]["log_std"] = torch.full_like(payload["state_dict"]["log_std"], value)
    torch.save(payload, policy_file)
    with pytest.raises(ValueError, match=r"non-finite parameters .*log_std"):
        load_policy(policy_file)
    status = main(["evaluate", "--policy", str(policy_file), "--config", str(SMOKE)])
    _one_error_line(status, capsys.readouterr().err, "policy.pt", "non-finite")


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_with_a_non_finite_policy(
    reference, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    unfinished_copy(reference[0], out)
    data = torch.load(out / CHECKPOINT, weights_only=True)
    first = next(iter(data["policy"]))
    data["policy"][first] = torch.full_like(data["policy"][first], math.nan)
    torch.save(data, out / CHECKPOINT)
    before = snapshot(out)
    status = main(train_argv(out, "--resume"))
    _one_error_line(status, capsys.readouterr().err, CHECKPOINT, "non-finite")
    assert snapshot(out) == before


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 400 Bad Request\r\n\r\n"])
def test_ray_address_of_a_listener_that_is_not_ray_fails_fast(reply: bytes) -> None:
    """``results ray HOST:PORT`` where something else listens: one line within the timeout, not minutes of retries."""
    import socket
    import threading
    import time

    from hw14_lib.study.cluster import ClusterError, check_address

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(64)
            if reply:
                connection.sendall(reply)
            time.sleep(2.0)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    start = time.monotonic()
    with pytest.raises(ClusterError, match="something listens there, but not a Ray cluster"):
        check_address(f"127.0.0.1:{port}", timeout=1.0)
    assert time.monotonic() - start < 1.8
    server.close()


@pytest.mark.parametrize(("config", "piece"), [("configs", "is a folder"), ("/dev/null", "not a regular file")])
def test_a_config_that_is_not_a_file_says_what_it_is(
    config: str, piece: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["train", "--config", config, "--out", str(tmp_path / "run"), "--no-progress"])
    _one_error_line(status, capsys.readouterr().err, piece)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "argv", [["train", "--out", "x", "--resume", "--overwrite"], ["nope"], ["evaluate", "--steps", "two"]]
)
def test_usage_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "--help" in err, err
