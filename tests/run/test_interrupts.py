"""Ctrl-C at any moment prints one line that says how to go on, and a run stopped before its first
checkpoint starts again with the same command (``make run`` cannot pass ``--overwrite``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hw14_lib.cli import _run, build_parser, main
from hw14_lib.run.run_folder import CHECKPOINT, CONFIG, METRICS, RunState
from hw14_lib.run.training import TrainingInterrupted, finish_run, make_policy, train

from conftest import comparable, smoke_config, train_argv


def _interrupt_first_save(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first checkpoint write raises KeyboardInterrupt: Ctrl-C between config.yaml and the checkpoint."""

    def interrupted(self: RunState, path: Path, record: object = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(RunState, "save", interrupted)


def test_ctrl_c_before_the_first_checkpoint_says_how_to_start_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        _interrupt_first_save(patch)
        status = main(train_argv(out))
    err = capsys.readouterr().err
    assert status == 130
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "before the first checkpoint" in lines[0] and "--resume" not in lines[0], err
    assert (out / CONFIG).is_file() and not (out / CHECKPOINT).exists()


@pytest.mark.slow
def test_a_run_stopped_before_its_first_checkpoint_starts_again_without_overwrite(
    reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        _interrupt_first_save(patch)
        with pytest.raises(TrainingInterrupted, match="Start it again with"):
            train(smoke_config(), out, progress=False, evaluate=False)
    assert main(train_argv(out)) == 0  # the same command, no --overwrite
    assert comparable(out / METRICS) == reference[1]


def test_a_bare_interrupt_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    args = build_parser().parse_args(train_argv(Path("unused")))
    args.handler = interrupted
    assert _run(args) == 130
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.strip()] == ["interrupted"], repr(err)


def test_the_phases_after_training_are_announced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = smoke_config(video=True)
    out = tmp_path / "run"
    out.mkdir()
    finish_run(cfg, out, make_policy(cfg), announce=True)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["evaluating", f"rendering {out / 'video.mp4'}"], lines
    finish_run(cfg, out, make_policy(cfg), announce=False)
    assert capsys.readouterr().out == ""
