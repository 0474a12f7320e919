"""A fresh run never writes into another run's folder: Hydra's same-second folder names, a reused hydra.run.dir."""

import datetime
import re
from pathlib import Path

import pytest

from conftest import ROOT, TINY_MODEL, TINY_RUN, compose_train, run_script
from gan_digits.checks import ConfigError
from gan_digits.provenance import code_versions, said_versions
from gan_digits.run_dir import keep_own_folder, resumes_from


def taken_folders(root: Path, seconds: int = 120) -> list[Path]:
    """The folders Hydra names by time for a command started in the next `seconds`, made now, as a run started
    in the same second would have made them."""
    now = datetime.datetime.now()
    folders = []
    for offset in range(seconds):
        at = now + datetime.timedelta(seconds=offset)
        folders.append(root / at.strftime("%Y-%m-%d") / at.strftime("%H-%M-%S"))
        folders[-1].mkdir(parents=True, exist_ok=True)
    return folders


def test_runs_started_in_the_same_second_get_a_folder_each(tmp_path):
    taken = taken_folders(tmp_path / "outputs") + taken_folders(tmp_path / "multirun")
    # model=default fails before importing torch, once the run's folder is chosen and Hydra has written there
    # (and then removes the folder it created: nothing but Hydra's config was written there).
    result = run_script(str(ROOT / "train.py"), "model=default", cwd=tmp_path)
    assert result.returncode == 2 and "model=default is the base the models inherit" in result.stderr
    written = tmp_path / result.stdout.split("this run writes to ")[1].split()[0]  # the taken folder's, before
    assert written.name.endswith("_2") and written.with_name(written.name[:-2]) in taken
    assert "is taken (a run started in the same second)" in result.stdout and not written.exists()

    result = run_script(str(ROOT / "train.py"), "-m", "model=default", cwd=tmp_path)
    assert result.returncode == 1 and "error: job #0 of the sweep failed: " in result.stderr
    [sweep] = [path.parent.parent for path in tmp_path.glob("multirun/*/*/0/.hydra")]  # each job's folder in its own
    assert sweep.name.endswith("_2") and (sweep / "multirun.yaml").is_file()
    assert not any(any(folder.iterdir()) for folder in taken)


def test_a_run_that_fails_before_writing_leaves_no_folder_unless_the_user_named_it(tmp_path):
    # Was one outputs/<date>/<time>/.hydra folder per mistyped command, listed by compare as a run.
    # (test_cli's bad-values test: the same after importing torch, in train(cfg))
    result = run_script(str(ROOT / "train.py"), "+foo=1", cwd=tmp_path)
    assert result.returncode == 2 and "error: foo=1 is not allowed" in result.stderr
    assert not (tmp_path / "outputs").exists()  # nor outputs/<date>/, made for it (was left, empty)
    (tmp_path / "outputs" / "earlier").mkdir(parents=True)
    result = run_script(str(ROOT / "train.py"), "+foo=1", cwd=tmp_path)
    assert result.returncode == 2 and [path.name for path in (tmp_path / "outputs").iterdir()] == ["earlier"]
    named = tmp_path / "named"
    result = run_script(str(ROOT / "train.py"), "+foo=1", f"hydra.run.dir={named}", cwd=tmp_path)
    assert result.returncode == 2 and sorted(path.name for path in named.iterdir()) == [".hydra", "train.log"]  # the user's
    [logged] = (named / "train.log").read_text().splitlines()  # the run's log says why it stopped
    assert logged.split("] ", 1)[1] == result.stderr.splitlines()[-1] and "error: foo=1 is not allowed" in logged


def test_torchrun_processes_are_told_to_name_one_folder(tmp_path, monkeypatch):
    # Each process named its own by the second it started: the run in outputs/<time>_2, a stray .hydra beside it.
    for name, value in (("TORCHELASTIC_RUN_ID", "none"), ("WORLD_SIZE", "2"), ("RANK", "1"), ("LOCAL_RANK", "1")):
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=r"^under torchrun each of the run's 2 processes would name its own folder by "
                                          r"the second it started: name one for all of them, hydra.run.dir=<folder>$"):
        keep_own_folder(compose_train("gan"), "run")
    keep_own_folder(compose_train("gan", [f"hydra.run.dir={tmp_path}"]), "run")  # named: rank 0 checks it


def test_a_fresh_run_in_an_earlier_runs_folder_is_refused_before_hydra_writes_there(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"the earlier run's weights")
    (run / ".hydra").mkdir()
    (run / ".hydra" / "overrides.yaml").write_text("- model=gan\n")
    result = run_script("train.py", "model=dcgan", f"hydra.run.dir={run}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: hydra.run.dir={run} already holds a run (checkpoints/last.ckpt): train it on with ckpt_path=last, "
        "or train afresh in another folder (leave out hydra.run.dir for a new one)"]
    assert (run / ".hydra" / "overrides.yaml").read_text() == "- model=gan\n"  # was replaced by this command's

    sweep = tmp_path / "sweep"
    grid = sweep / "1" / "samples" / "step_0001000.png"
    grid.parent.mkdir(parents=True)
    grid.write_bytes(b"an earlier job's sample grid")
    result = run_script("train.py", "-m", "model=gan,dcgan", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: hydra.sweep.dir={sweep} already holds a run (1/samples/step_0001000.png)")
    assert sorted(path.name for path in sweep.iterdir()) == ["1"]

    # A folder that holds no run (an earlier attempt failed before training) is the user's to reuse.
    (tmp_path / "attempt" / "tb").mkdir(parents=True)
    (tmp_path / "attempt" / "tb" / "events.out.tfevents.1.vm.1.0").write_bytes(b"the header of no events")
    result = run_script("train.py", "model=default", f"hydra.run.dir={tmp_path / 'attempt'}")
    assert result.returncode == 2 and "model=default is the base the models inherit" in result.stderr


def refused_run(run: Path) -> dict[str, str]:
    """`run` as a run whose last.ckpt no resume can read, and the `.hydra` record written there."""
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    record = {"overrides.yaml": "- model=gan\n", "config.yaml": "model: {}\n", "hydra.yaml": "hydra: {}\n"}
    (run / ".hydra").mkdir()
    for name, text in record.items():
        (run / ".hydra" / name).write_text(text)
    return record


def test_a_refused_resume_leaves_the_runs_config_record_as_it_was(tmp_path):
    """Hydra rewrites `.hydra` with each command run in the folder: a resume refused (here its checkpoint is no
    checkpoint; most often an override forgotten) replaced the record of the overrides the run was trained with.
    A sweep's jobs' records alike."""
    run = tmp_path / "run"
    record = refused_run(run)
    result = run_script("train.py", f"hydra.run.dir={run}", "ckpt_path=last")
    assert result.returncode == 2 and "error: " in result.stderr and "last.ckpt" in result.stderr
    assert {path.name: path.read_text() for path in (run / ".hydra").iterdir()} == record

    sweep = tmp_path / "sweep"
    records = [refused_run(sweep / job) for job in ("0", "1")]
    result = run_script("train.py", "-m", f"hydra.sweep.dir={sweep}", "ckpt_path=last", "model=gan,dcgan")
    assert result.returncode == 1  # each job refused, the sweep going on
    assert all(f"{sweep / job}/checkpoints/last.ckpt: truncated or corrupt" in result.stderr for job in ("0", "1"))
    assert [{path.name: path.read_text() for path in (sweep / job / ".hydra").iterdir()} for job in ("0", "1")] == records


def test_a_folder_that_cannot_be_written_is_named_before_hydra_writes_there(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the run's folder should go")
    for mode, key in ((), "hydra.run.dir"), (("-m",), "hydra.sweep.dir"):
        result = run_script("train.py", *mode, f"{key}={blocker / 'run'}")  # was Hydra's NotADirectoryError traceback
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"error: cannot write the run's outputs to {blocker / 'run'}: Not a directory. "
            f"Choose another folder with {key}=<folder>"]


def test_a_run_resuming_another_runs_checkpoint_into_an_earlier_runs_folder_is_refused(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"this folder's run")
    other = tmp_path / "other.ckpt"
    other.write_bytes(b"another run's weights")
    result = run_script("train.py", f"ckpt_path={other}", f"hydra.run.dir={run}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: hydra.run.dir={run} already holds a run (checkpoints/last.ckpt): train it on with ckpt_path=last, "
        "or train afresh in another folder (leave out hydra.run.dir for a new one)"]
    # One of its own checkpoints is its to resume, by path or as `last`.
    assert resumes_from(run, str(run / "checkpoints" / "last.ckpt")) and resumes_from(run, "last")
    assert not resumes_from(run, str(other)) and not resumes_from(run, None)


def test_a_run_keeps_its_log_with_the_error_that_stopped_a_later_command(tmp_path):
    """A run's folder held no log (train.log was left out: Lightning printed around Hydra's logging): the precision
    picked, its warnings, the epochs and the closing lines were the terminal's alone, and a sweep's interleaved."""
    run = tmp_path / "run"
    # 4 batches, under the logging interval of 50: Lightning's warning, Python's way (warnings.warn), in one line
    result = run_script("train.py", "model=gan", *TINY_MODEL["gan"], *TINY_RUN, "trainer.log_every_n_steps=50",
                        f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr
    log = (run / "train.log").read_text()
    assert re.match(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] Seed set to 42\n", log)
    [warned] = [line for line in result.stderr.splitlines() if "smaller than the logging interval" in line]
    assert re.search(rf"\] {re.escape(warned)}\n\[", log) and f"{warned}\n\n" not in result.stderr
    assert re.search(r"\] epoch 1 of 8: step 8 \(4 batches\) after 0 min \d+ s of training; val/fid ", log)
    said = said_versions(code_versions())  # which code made the run: in its log, not on the terminal
    assert f"] {said}\n" in log and said not in result.stderr + result.stdout
    summary = result.stderr[result.stderr.index("done: step 8 (4 batches)"):]  # its lines as printed, in the log
    assert log.endswith(summary) and "  sample it:" in summary
    result = run_script("train.py", "model=dcgan", f"hydra.run.dir={run}", "ckpt_path=last")  # another model's
    assert result.returncode == 2
    assert log.splitlines()[-1] != (last := (run / "train.log").read_text().splitlines()[-1])
    assert last.split("] ", 1)[1] == result.stderr.splitlines()[-1] and "holds a different generator" in last
