"""The benchmarks' Lightning columns run again and again: `make bench` times every column several rounds."""

import logging
import math
import sys
import tempfile

import torch
from conftest import DATA, ROOT

sys.path.insert(0, str(ROOT / "bench"))
import speed  # noqa: E402  (bench/ is scripts, not a package)


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
