"""`trainer.precision=auto`: bf16 only where this CPU's step gains clearly, and the run untouched by the timing."""

import math

import pytest
import torch
from hydra.utils import instantiate

from conftest import compose_train
from gan_digits import precision
from gan_digits.precision import (MIN_SPEEDUP, X86_BF16_INSTRUCTIONS, bf16_speedup, lacks_bf16_instructions,
                                  resolve_precision)


@pytest.fixture(autouse=True)
def bf16_instructions(monkeypatch):
    """Every test here runs as on a CPU with bf16 instructions (so `auto` times it), whatever this one has."""
    monkeypatch.setattr(precision, "lacks_bf16_instructions", lambda: False)


def must_not_time(*args):
    """Stands in for `bf16_speedup` where `auto` must decide without timing."""
    raise AssertionError("timed the step")


def test_timing_leaves_the_nets_and_the_noise_stream_as_they_were():
    module = instantiate(compose_train("cdcgan").model)  # batch norm: running statistics to disturb
    before = {name: value.clone() for name, value in module.state_dict().items()}
    rng = torch.get_rng_state()
    speedup = bf16_speedup(module, batch_size=8, rounds=1, min_seconds=0.0)
    assert math.isfinite(speedup) and speedup > 0
    assert torch.equal(torch.get_rng_state(), rng)
    for name, value in module.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert all(p.grad is None for p in module.parameters())


@pytest.mark.parametrize(("speedup", "chosen"), [(MIN_SPEEDUP + 0.5, "bf16-mixed"), (MIN_SPEEDUP - 0.1, "32-true")])
def test_auto_takes_bf16_only_for_a_clear_gain(monkeypatch, tmp_path, speedup, chosen):
    timed = []  # the batch sizes timed

    def measured(module, batch_size):
        timed.append(batch_size)
        return speedup

    monkeypatch.setattr(precision, "bf16_speedup", measured)
    cfg = compose_train("gan", ["trainer.precision=auto"], output_dir=tmp_path)
    module = instantiate(cfg.model)
    assert resolve_precision(cfg.trainer, module, cfg.data.batch_size) == chosen
    resolve_precision(cfg.trainer, module, 4096)  # a huge batch is timed on a smaller one
    assert timed == [cfg.data.batch_size, precision.MAX_PROBE_BATCH]


@pytest.mark.parametrize("overrides", [
    ["trainer.precision=auto", "trainer.accelerator=gpu"],  # the CUDA-graph step's precision
    ["trainer.precision=auto", "trainer.devices=2"],  # every rank must train at one precision
    ["trainer.precision=bf16-mixed"],  # asked for: kept as it is
])
def test_auto_times_nothing_on_a_gpu_on_several_processes_or_when_pinned(monkeypatch, tmp_path, overrides):
    monkeypatch.setattr(precision, "bf16_speedup", must_not_time)
    cfg = compose_train("gan", overrides, output_dir=tmp_path)
    expected = "bf16-mixed" if "trainer.precision=bf16-mixed" in overrides else "32-true"
    assert resolve_precision(cfg.trainer, instantiate(cfg.model), cfg.data.batch_size) == expected


def test_a_resumed_run_keeps_the_precision_its_checkpoint_trained_at(monkeypatch, tmp_path):
    """Timing again could pick the other one where the times are close: the run would not go on as it was."""
    from gan_digits.checkpoint import load_checkpoint
    from gan_digits.training import train

    train(compose_train("gan", output_dir=tmp_path))  # the tiny runs pin 32-true
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["gan_digits"]["precision"] == "32-true"
    monkeypatch.setattr(precision, "bf16_speedup", must_not_time)
    cfg = compose_train("gan", ["trainer.precision=auto", "ckpt_path=last", "trainer.max_steps=16"], output_dir=tmp_path)
    train(cfg)
    assert cfg.trainer.precision == "32-true"  # what the resumed run's HPARAMS record
    # A precision that auto does not choose from (fp16, from a GPU) is timed on this CPU instead.
    monkeypatch.setattr(precision, "bf16_speedup", lambda module, batch_size: 2.0)
    cfg = compose_train("gan", ["trainer.precision=auto"])
    assert resolve_precision(cfg.trainer, instantiate(cfg.model), 64, trained_at="16-mixed") == "bf16-mixed"


def test_the_trainer_and_the_run_config_get_the_precision_auto_chose(monkeypatch, tmp_path):
    from gan_digits.training import build

    monkeypatch.setattr(precision, "bf16_speedup", lambda module, batch_size: 2.0)
    cfg = compose_train("gan", ["trainer.precision=auto"], output_dir=tmp_path)
    trainer = build(cfg)[2]
    assert trainer.precision == "bf16-mixed"
    assert cfg.trainer.precision == "bf16-mixed"  # what the run's HPARAMS record


def test_16_mixed_on_the_cpu_is_recorded_as_the_bf16_mixed_it_runs(tmp_path, recwarn):
    """Lightning swaps fp16 autocast for bf16 on the CPU, with a warning: the run's HPARAMS said 16-mixed."""
    from gan_digits.training import build

    cfg = compose_train("gan", ["trainer.precision=16-mixed"], output_dir=tmp_path)
    trainer = build(cfg)[2]
    assert trainer.precision == "bf16-mixed" and cfg.trainer.precision == "bf16-mixed"
    assert not [w for w in recwarn if "AMP with fp16 is not supported on CPU" in str(w.message)]


def test_a_failure_while_timing_the_model_is_not_called_a_trainer_config_error(monkeypatch, tmp_path):
    from gan_digits.checks import ConfigError
    from gan_digits.training import build

    def broken_model(module, batch_size):
        raise ValueError("mat1 and mat2 shapes cannot be multiplied")  # as a net that does not fit 28x28 would

    monkeypatch.setattr(precision, "bf16_speedup", broken_model)
    cfg = compose_train("gan", ["trainer.precision=auto"], output_dir=tmp_path)
    with pytest.raises(ValueError, match="shapes cannot be multiplied") as raised:
        build(cfg)
    assert not isinstance(raised.value, ConfigError)


@pytest.mark.parametrize(("capabilities", "lacks"), [
    ({"architecture": "x86_64", "avx2": True, "avx512_f": True}, True),  # AVX2 or AVX-512 without BF16: emulated
    *[({"architecture": "x86_64", "avx2": True, name: True}, False) for name in X86_BF16_INSTRUCTIONS],
    ({"architecture": "aarch64", "sve": True}, False),  # not x86: timed
    (None, False),  # a torch too old to say: timed
])
def test_which_cpus_lack_bf16_instructions(monkeypatch, capabilities, lacks):
    if capabilities is None:
        monkeypatch.delattr(torch.cpu, "get_capabilities")
    else:
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert lacks_bf16_instructions() is lacks


def test_auto_does_not_time_bf16_on_a_cpu_without_bf16_instructions(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(precision, "lacks_bf16_instructions", lambda: True)
    monkeypatch.setattr(precision, "bf16_speedup", must_not_time)
    cfg = compose_train("gan", ["trainer.precision=auto"], output_dir=tmp_path)
    with caplog.at_level("INFO"):
        assert resolve_precision(cfg.trainer, instantiate(cfg.model), cfg.data.batch_size) == "32-true"
    assert "chose 32-true: this CPU has no bf16 instructions (avx512_bf16, amx_bf16, avx_ne_convert)" in caplog.text
