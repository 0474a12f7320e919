"""The benchmarks: their Lightning columns run again and again (`make bench` times every column several rounds), and
their results go where no published result is overwritten."""

import importlib
import json
import logging
import math
import subprocess
import sys
import tempfile

import pytest
import torch
from conftest import DATA, ROOT, run_main

sys.path.insert(0, str(ROOT / "bench"))
import hardware  # noqa: E402  (bench/ is scripts, not a package)
import quality  # noqa: E402
import speed  # noqa: E402


def test_lightning_run_repeats_each_in_a_folder_of_its_own(tmp_path, monkeypatch, caplog):
    # The second run once stopped at `build`'s check that a fresh run does not start in an earlier run's folder.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    tiny = ("model.generator.hidden=[32]", "model.discriminator.hidden=[32]", "data.subset=256")
    caplog.set_level(logging.INFO)
    for _ in range(2):
        start_up, rate = speed.lightning_run("gan", str(DATA), 32, iterations=2, warmup=1, loader="memory", workers=0,
                                             device=torch.device("cpu"), precision="32-true", overrides=tiny)
        assert start_up > 0 and rate > 0 and math.isfinite(rate)
    assert list(tmp_path.iterdir()) == []  # each run's checkpoints and events went with its folder
    assert "`Trainer.fit` stopped" in caplog.text and "litlogger" not in caplog.text  # Lightning's advert, every run


def test_results_go_to_a_folder_git_leaves_alone_unless_out_names_one(tmp_path, capsys):
    # `make bench` wrote over bench/results/speed.json, the published run the docs cite, on whatever machine ran it.
    assert hardware.RUNS == ROOT / "bench" / "runs"
    ignored = subprocess.run(["git", "check-ignore", "-q", "bench/runs/speed.json"], cwd=ROOT)
    assert ignored.returncode == 0, "bench/runs/ must be ignored by git"
    out = tmp_path / "new" / "speed.json"  # a folder that does not exist yet, as bench/runs/ on a fresh clone
    hardware.write_results(out, {"models": {"gan": {"iterations_per_s": 1.5}}})
    assert json.loads(out.read_text()) == {"models": {"gan": {"iterations_per_s": 1.5}}}
    assert capsys.readouterr().out == f"wrote {out}\n"


def run_bench(script: str, *args: str, monkeypatch, capsys) -> subprocess.CompletedProcess:
    """`python bench/<script> <args>`, its main run in this process (the scripts read sys.argv)."""
    monkeypatch.setattr(sys, "argv", [str(ROOT / "bench" / script), *args])
    return run_main(lambda argv: importlib.import_module(script.removesuffix(".py")).main(), capsys)


@pytest.mark.parametrize("script, argument, message", [
    # a ValueError traceback from the DataLoader, once the data was read
    ("speed.py", "--batch-size=0", "argument --batch-size: '0' is not allowed: expected a whole number >= 2 (batch norm "
                                   "needs two digits or more a batch)"),
    ("speed.py", "--iterations=0", "argument --iterations: '0' is not allowed: expected a whole number >= 1"),
    ("quality.py", "--minutes=-1", "argument --minutes: '-1' is not allowed: expected a number > 0"),  # 23:59 hours
    ("clusters.py", "--clusters=1", "argument --clusters: '1' is not allowed: expected a whole number >= 2"),
])
def test_a_benchmark_names_a_bad_value_in_one_line(script, argument, message, monkeypatch, capsys):
    result = run_bench(script, argument, monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 2 and result.stderr.splitlines()[-1] == f"{script}: error: {message}"


@pytest.mark.parametrize("script", ["speed.py", "quality.py", "cpu_levers.py", "lightning_floor.py", "profile_step.py",
                                    "clusters.py"])
def test_a_benchmark_names_a_data_folder_without_mnist_in_one_line(script, tmp_path, monkeypatch, capsys):
    result = run_bench(script, f"--data={tmp_path}", monkeypatch=monkeypatch, capsys=capsys)  # was a traceback
    assert result.returncode == 2 and result.stderr.startswith(f"error: MNIST file missing: neither {tmp_path}/MNIST/raw/")
    assert result.stderr.count("\n") == 1


def test_quality_trains_for_the_minutes_asked():
    # 1500 minutes asked for 01:00:00 (the hours wrapped at a day); 0.001 for none at all
    assert [quality.max_time(m) for m in (8, 0.5, 1500, 0.001)] == ["00:00:08:00", "00:00:00:30", "01:01:00:00",
                                                                     "00:00:00:01"]


def test_the_quality_table_shows_precision_and_recall_and_a_dash_where_results_predate_them():
    floor = {"fid": 0.225, "intra_fid": 0.643, "label_acc": 0.997, "modes": 10, "confidence": 0.995}
    run = {"fid": 1.09, "fid_x_floor": 4.84, "modes": 10, "confidence": 0.997, "batches": 5103}  # an unconditional one
    new = {"precision": 0.8382, "recall": 0.6294}
    rows = quality.results_table({"floor": {**floor, "precision": 0.8591, "recall": 0.8628},
                                  "runs": {"gan": {**run, **new}, "old": run}})
    assert rows[0].split(" | ")[5:7] == ["precision", "recall"]
    assert rows[2] == "| real digits (floor) | - | 0.225 | 0.643 | 0.997 | 0.859 | 0.863 | 10 | 0.995 |"
    assert rows[3] == "| gan | 5103 | 1.09 (4.84x) | - | - | 0.838 | 0.629 | 10 | 0.997 |"
    assert rows[4] == "| old | 5103 | 1.09 (4.84x) | - | - | - | - | 10 | 0.997 |"  # results of older code


def test_the_peak_is_measured_in_fp32_whatever_precision_the_columns_ran_at(monkeypatch):
    # With --float32-matmul-precision high the GEMM "fp32 peak" was TF32's (406 TFLOP/s on an H200, 8x fp32's): the
    # columns' fraction of it read 0-2%.
    seen = []
    conv2d = speed.F.conv2d
    monkeypatch.setattr(speed.F, "conv2d", lambda *a, **k: seen.append(torch.get_float32_matmul_precision())
                        or conv2d(*a, **k))
    torch.set_float32_matmul_precision("high")
    try:
        peak = speed.peak_gflops(torch.device("cpu"), repeats=1, trials=1)
        assert torch.get_float32_matmul_precision() == "high"  # the columns' setting, back for the next column
    finally:
        torch.set_float32_matmul_precision("highest")
    assert seen and set(seen) == {"highest"}
    assert peak["gemm"] > 0 and peak["conv"] > 0


def test_cpu_levers_times_the_levers_asked_for_beside_eager_fp32(tmp_path, monkeypatch, capsys):
    import cpu_levers

    timed = []  # the lever each timing ran with: (d)'s loop, its rate fixed here
    monkeypatch.setattr(cpu_levers, "plain_loop", lambda cfg, batches, iterations, warmup, device, prepare:
                        timed.append(prepare.__name__) or (0.1, 4.0 if prepare is cpu_levers.eager else 5.0))
    out = tmp_path / "levers.json"
    result = run_bench("cpu_levers.py", f"--data={DATA}", "--models", "gan", "--levers", "channels_last", "--rounds=2",
                       f"--out={out}", monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 0, result.stderr
    assert timed == ["eager", "channels_last"] * 2  # in turn, round by round
    assert json.loads(out.read_text())["models"]["gan"] == {
        "fp32_eager": {"iterations_per_s": [4.0, 4.0], "median": 4.0, "over_fp32_eager": 1.0},
        "channels_last": {"iterations_per_s": [5.0, 5.0], "median": 5.0, "over_fp32_eager": 1.25}}
    refused = run_bench("cpu_levers.py", "--levers", "fp32_eager", monkeypatch=monkeypatch, capsys=capsys)
    assert refused.returncode == 2  # the yardstick itself, always timed
    assert "argument --levers: invalid choice: 'fp32_eager' (choose from" in refused.stderr.splitlines()[-1]
