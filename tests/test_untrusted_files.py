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
from hw14_lib.run_folder import CHECKPOINT, RunFolderError, read_checkpoint

from conftest import train_argv


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
