"""The Makefile's targets that touch the user's files or the machine."""

import shutil
import subprocess
import sys

import pytest

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


@pytest.fixture
def project_without_browser(tmp_path):
    """The Makefile, installed (`.venv` newer than pyproject.toml), in a folder whose PATH (`bin/`) holds no browser
    and no apt-get: a Mac's, say."""
    for name in ("Makefile", "pyproject.toml", "tests/headless_page.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (tmp_path / ".venv" / ".installed").write_text("")
    (tmp_path / "bin").mkdir()
    return tmp_path


def make_browser(project, **env) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("make"), "-s", "--no-print-directory", "browser"], cwd=project, text=True,
                          capture_output=True, env={"PATH": str(project / "bin"), "HOME": str(project), **env})


def test_browser_says_what_to_install_where_there_is_no_browser_and_no_apt(project_without_browser):
    made = make_browser(project_without_browser)
    assert made.returncode != 0
    assert "need Chromium or Google Chrome, and none is here" in made.stderr
    assert "CHROMIUM=/path/to/it" in made.stderr


@pytest.mark.parametrize("name", ["google-chrome", "chromium-browser"])
def test_browser_takes_chrome_or_ubuntus_chromium_on_the_path(project_without_browser, name):
    browser = project_without_browser / "bin" / name
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    made = make_browser(project_without_browser)
    assert (made.returncode, made.stderr) == (0, "")
    found = subprocess.run([sys.executable, "tests/headless_page.py"], cwd=project_without_browser, text=True,
                           capture_output=True, env={"PATH": str(project_without_browser / "bin")})
    assert found.stdout.strip() == str(browser)


def test_browser_named_by_chromium_comes_first_and_must_be_there(project_without_browser):
    for browser in (project_without_browser / "my chrome", project_without_browser / "bin" / "chromium"):
        browser.write_text("#!/bin/sh\n")
        browser.chmod(0o755)
    browser = project_without_browser / "my chrome"
    env = {"PATH": str(project_without_browser / "bin"), "CHROMIUM": str(browser)}
    found = subprocess.run([sys.executable, "tests/headless_page.py"], cwd=project_without_browser, text=True,
                           capture_output=True, env=env)
    assert found.stdout.strip() == str(browser)
    missing = make_browser(project_without_browser, CHROMIUM=str(project_without_browser / "nope"))
    assert missing.returncode != 0
    assert f"CHROMIUM={project_without_browser / 'nope'} is not an executable" in missing.stderr
