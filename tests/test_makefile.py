"""The Makefile's targets that touch the user's files."""

import shutil
import subprocess

from conftest import ROOT


def test_clean_removes_what_install_made_and_keeps_the_runs(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    made = [".venv/bin/python", ".pytest_cache/v", "gan_digits.egg-info/PKG-INFO", "gan_digits/__pycache__/x.pyc"]
    runs = ["outputs/2026-12-03/04-15-40/checkpoints/last.ckpt", "multirun/2026-12-03/04-15-49/0/checkpoints/last.ckpt"]
    for name in made + runs:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == ["Makefile", *sorted(runs)]


def test_tensorboard_shows_the_runs_or_the_sweeps(tmp_path):
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / ".installed").write_text("")  # newer than pyproject.toml: make -n prints the target alone
    for args, logdir in (([], "outputs"), (["LOGDIR=multirun"], "multirun")):
        shown = subprocess.run(["make", "-n", "--no-print-directory", "tensorboard", *args], cwd=tmp_path, check=True,
                               capture_output=True, text=True)  # as alone under `make test`, which says its dirs
        assert shown.stdout.splitlines()[-1] == f".venv/bin/tensorboard --logdir {logdir}"
