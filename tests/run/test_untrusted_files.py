"""Files from a run folder may come from someone else: a checkpoint or a policy file carrying a pickled call
is refused with one line naming the file, and the call never runs."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from hw14_lib.cli import main
from hw14_lib.run.run_folder import CHECKPOINT, METRICS, RunFolderError, read_checkpoint
from hw14_lib.run.training import train

from conftest import comparable, smoke_config, snapshot, train_argv, unfinished_copy


class _Call:
    """Pickles as ``os.system(command)``: what a malicious file would run on load."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return os.system, (self.command,)


def _write_malicious(path: Path, marker: Path, payload: dict) -> None:
    payload = {**payload, "evil": _Call(f"touch {marker}")}
    torch.save(payload, path, pickle_protocol=pickle.HIGHEST_PROTOCOL)


def test_read_checkpoint_refuses_a_pickled_call(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / CHECKPOINT
    _write_malicious(path, marker, {"iteration": 1})
    with pytest.raises(RunFolderError, match=r"checkpoint\.pt' is not a readable checkpoint") as info:
        read_checkpoint(path)
    assert "\n" not in str(info.value)
    assert not marker.exists(), "loading the checkpoint ran the pickled call"


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_with_a_pickled_call(
    reference, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    shutil.copytree(reference[0], out)
    marker = tmp_path / "ran"
    good = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True)
    _write_malicious(out / CHECKPOINT, marker, good)
    status = main(train_argv(out, "--resume"))
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and CHECKPOINT in err, err
    assert not marker.exists(), "train --resume ran the pickled call"


def test_evaluate_refuses_a_policy_file_with_a_pickled_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "policy.pt"
    _write_malicious(path, marker, {"state_dict": {}})
    status = main(["evaluate", "--policy", str(path)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "policy.pt" in err and "is not a policy file" in err, err
    assert not marker.exists(), "evaluate ran the pickled call"


# --- a checkpoint and a config.yaml that do not belong together ----------------------------------


@pytest.mark.slow
def test_resume_refuses_a_truncated_config(reference, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    unfinished_copy(reference[0], out)
    config = out / "config.yaml"
    config.write_text("\n".join(config.read_text().splitlines()[:2]) + "\n")  # cut to its first two lines
    before = snapshot(tmp_path)
    status = main(["train", "--config", str(config), "--out", str(out), "--resume", "--no-progress", "--no-eval"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "another configuration" in err and CHECKPOINT in err, err
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_resume_refuses_the_checkpoint_of_another_run(
    reference, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    train(smoke_config(seed=7, iterations=1), other, progress=False, evaluate=False)
    out = tmp_path / "run"
    unfinished_copy(reference[0], out)
    shutil.copy(other / CHECKPOINT, out / CHECKPOINT)
    before = snapshot(out)
    status = main(train_argv(out, "--resume"))
    err = capsys.readouterr().err
    assert status == 2 and "another configuration" in err, err
    assert snapshot(out) == before, "metrics.jsonl was cut or the folder changed"


@pytest.mark.slow
def test_a_checkpoint_without_a_digest_still_resumes(reference, tmp_path: Path) -> None:
    out = tmp_path / "run"
    unfinished_copy(reference[0], out)
    data = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True)
    assert data.pop("config_digest") is not None
    torch.save(data, out / CHECKPOINT)  # as the versions before the digest wrote it
    assert main(train_argv(out, "--resume")) == 0
    assert comparable(out / METRICS) == reference[1]


@pytest.mark.slow
def test_evaluate_refuses_a_config_that_is_not_the_runs(
    reference, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    shutil.copytree(reference[0], out)
    config = out / "config.yaml"
    config.write_text(config.read_text().replace("seed: 0", "seed: 3"))
    status = main(["evaluate", "--policy", str(out / "policy.pt"), "--steps", "0"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "not the configuration the run was trained with" in err, err


def test_every_new_config_field_is_registered_for_the_digest() -> None:
    """A field added to TrainConfig must be listed in FIELDS_ADDED_AFTER_THE_DIGEST (or, if it cannot change the
    numbers, in RUNTIME_FIELDS), so that it enters the digest
    only when it differs from its default and checkpoints written before it existed still match their runs."""
    import dataclasses

    from hw14_lib.run.config import TrainConfig
    from hw14_lib.run.config_digest import FIELDS_ADDED_AFTER_THE_DIGEST, FIELDS_AT_THE_DIGEST, RUNTIME_FIELDS

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields - FIELDS_AT_THE_DIGEST - set(RUNTIME_FIELDS) == set(FIELDS_ADDED_AFTER_THE_DIGEST)
    assert TrainConfig(inner_params="head").digest != TrainConfig().digest  # a non-default new field counts


@pytest.mark.slow
def test_committed_checkpoints_match_their_configs() -> None:
    """Every committed checkpoint that records a digest matches its run's config.yaml."""
    from hw14_lib.run.config import TrainConfig

    root = Path(__file__).resolve().parents[2] / "results"
    checked = 0
    for path in sorted(root.glob("*/checkpoint.pt")):
        recorded = torch.load(path, map_location="cpu", weights_only=True).get("config_digest")
        if recorded is not None:
            checked += 1
            assert TrainConfig.from_yaml(path.parent / "config.yaml").digest == recorded, path.parent.name
    assert checked > 0
