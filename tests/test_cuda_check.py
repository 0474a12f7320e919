"""The NVML-based CUDA check is turned off only where torch would fall back from it on every call."""

import importlib
import os

import pytest
import torch

from gan_digits.cuda_check import VARIABLE, skip_unusable_nvml
from gan_digits.process import prepare_process


@pytest.fixture
def nvml_check(monkeypatch):
    """Lightning's setting, restored after the test; the test chooses what NVML answers."""
    monkeypatch.setenv(VARIABLE, "1")

    def answers(count: int):
        monkeypatch.setattr(torch.cuda, "_device_count_nvml", lambda: count)

    return answers


def test_lightning_asks_for_the_nvml_check(monkeypatch):
    """Importing lightning sets what cuda_check.py turns off: its package's first lines, run again here (a fresh
    process would spend seconds importing it)."""
    import lightning.fabric

    monkeypatch.delenv(VARIABLE, raising=False)
    importlib.reload(lightning.fabric)
    assert os.environ[VARIABLE] == "1"


def test_unusable_nvml_check_is_turned_off_and_cuda_answers_the_same(nvml_check):
    available = torch.cuda.is_available()
    nvml_check(-1)  # NVML not loadable (no driver) or not initialised: torch falls back every call
    assert skip_unusable_nvml() is True
    assert os.environ[VARIABLE] == "0"
    assert torch.cuda.is_available() == available


@pytest.mark.parametrize("count", [0, 1, 8])
def test_working_nvml_check_is_kept(nvml_check, count):
    nvml_check(count)  # NVML answers: it keeps CUDA uninitialised, so fork stays safe on a GPU machine
    assert skip_unusable_nvml() is False
    assert os.environ[VARIABLE] == "1"


def test_unset_variable_is_left_unset(monkeypatch):
    monkeypatch.delenv(VARIABLE)
    monkeypatch.setattr(torch.cuda, "_device_count_nvml", lambda: -1)
    assert skip_unusable_nvml() is False
    assert VARIABLE not in os.environ


def test_training_process_skips_the_unusable_check(nvml_check):
    nvml_check(-1)
    prepare_process()  # what build() runs first
    assert os.environ[VARIABLE] == "0"
