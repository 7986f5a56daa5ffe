"""The protocol's files: readers skip the hidden temporaries of atomic writes, a damaged record or run is
reported by name while the others go on (exit 1 at the end), the paper's schedule rides along, and a
missing results folder is refused before anything is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hw14_lib.cli import main
from hw14_lib.common.io_utils import visible_files
from hw14_lib.study.protocol import table_row
from hw14_lib.study.protocol_runs import needs_paper_schedule

ROOT = Path(__file__).resolve().parents[2]


def _protocol_copy(tmp_path: Path) -> Path:
    """A results folder holding only a copy of the committed protocol records (no run folders to evaluate)."""
    results = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "protocol", results / "protocol")
    return results


def test_visible_files_skips_hidden_temporaries(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / ".a.json.x1y2.tmp.json").write_text("")
    (tmp_path / "sub.json").mkdir()
    assert [p.name for p in visible_files(tmp_path, "*.json")] == ["a.json"]
    assert sorted(p.name for p in tmp_path.glob("*.json")) != ["a.json"], "pathlib's glob matches dot files"
    assert visible_files(tmp_path / "missing") == []


def test_a_stale_temporary_does_not_count_a_seed_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _protocol_copy(tmp_path)
    assert main(["protocol", "--results", str(results)]) == 0
    clean = (results / "table.json").read_text()
    record = results / "protocol" / "paper_dir_maml_s0.json"
    shutil.copy(record, results / "protocol" / f".{record.name}.k3j9.tmp.json")  # a kill between write and rename
    (results / "protocol" / ".paper_vel_maml_s0.json.zz.tmp.json").write_text("")  # an empty leftover
    capsys.readouterr()
    assert main(["protocol", "--results", str(results)]) == 0, capsys.readouterr().err
    assert (results / "table.json").read_text() == clean


def test_a_damaged_record_is_named_and_the_table_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A damaged record is named, and table.json is left as it was: a table without that seed would change its
    row silently."""
    results = _protocol_copy(tmp_path)
    assert main(["protocol", "--results", str(results)]) == 0
    before = (results / "table.json").read_text()
    (results / "protocol" / "paper_dir_random.json").write_text('{"run": "paper_dir_ra')
    capsys.readouterr()
    assert main(["protocol", "--results", str(results)]) == 1
    err = capsys.readouterr().err
    assert "paper_dir_random.json" in err and "left as they were" in err and "Traceback" not in err, err
    assert err.count("paper_dir_random") == 2, "named once as the file, once in the summary line"
    assert (results / "table.json").read_text() == before


def test_a_missing_results_folder_is_refused_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "MISSING"
    assert main(["protocol", "--results", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MISSING" in err and not missing.exists()


def test_the_paper_schedule_repeats_k0_k1_and_reaches_the_table() -> None:
    for name in ("paper_dir_maml_s0", "paper_vel_maml_s1"):
        record = json.loads((ROOT / "results" / "protocol" / f"{name}.json").read_text())
        assert needs_paper_schedule(record) and record["later_scale"] != 1
        paper = record["paper_schedule"]
        assert paper["mean"][:2] == record["mean"][:2], "the same tasks and seeds: k = 0, 1 are shared"
        assert paper["step_sizes"] == [record["alpha"]] * 3
    folder = ROOT / "results" / "protocol"
    records = [json.loads(p.read_text()) for p in visible_files(folder, "paper_dir_maml_s*.json")]
    row = table_row(env="paper", family="direction", method="maml", evaluations=records, env_steps=[1] * 3)
    by_hand = [sum(r["paper_schedule"]["mean"][k] for r in records) / 3 for k in range(4)]
    assert row["paper_schedule"]["returns"] == pytest.approx(by_hand)
    without = [{k: v for k, v in records[0].items() if k != "paper_schedule"}]
    row = table_row(env="paper", family="direction", method="maml", evaluations=without, env_steps=[1])
    assert "paper_schedule" not in row
