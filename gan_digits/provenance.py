"""Which code trained a run: this project's git commit (and whether files had changed since it), and the versions of
torch, Lightning and Python. Written into the run's log at its start and into its HPARAMS, so that a result can be
traced to the code behind it, months and commits later."""

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import lightning
import torch

ROOT = Path(__file__).resolve().parents[1]  # the checkout, for an editable install (make install's)


def git(*args: str) -> str:
    """What `git <args>` prints in the checkout; CalledProcessError or OSError where it cannot say. Without the
    index lock `git status` would take to refresh it: two runs started together must not trip on each other."""
    return subprocess.run(["git", "--no-optional-locks", "-C", str(ROOT), *args], capture_output=True, text=True,
                          timeout=10, check=True).stdout.strip()


def project_version() -> str:
    """The commit checked out, `+changes` when tracked files differ from it; outside a git checkout (an installed
    package, a copied folder, no git) the package's version."""
    if (ROOT / ".git").exists():
        try:
            commit = git("rev-parse", "--short=12", "HEAD")
            return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")
        except (OSError, subprocess.SubprocessError):  # git missing, or refusing the folder (another owner's)
            pass
    try:
        return f"{metadata.version('gan_digits')} (no git commit)"
    except metadata.PackageNotFoundError:
        return "unknown (no git commit, not installed)"


def code_versions() -> dict[str, str]:
    """{"gan_digits": <commit or version>, "torch": ..., "lightning": ..., "python": ...}."""
    # torch's is a str subclass, which YAML (tb/hparams.yaml) would write as a Python object: plain strings
    return {"gan_digits": project_version(), "torch": str(torch.__version__), "lightning": str(lightning.__version__),
            "python": platform.python_version()}


def said_versions(versions: dict[str, str]) -> str:
    """`code: gan_digits 1f54e71c0a2b, torch 2.14.1, lightning 2.6.6, python 3.11.9`."""
    return "code: " + ", ".join(f"{name} {version}" for name, version in versions.items())
