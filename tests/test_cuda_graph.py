"""The CUDA-graph step (cuda_graph.py) trains exactly as the eager step does.

It needs a GPU: on a CPU-only machine (CI) these tests are skipped, as the graph path itself is;
run them on one with `pytest tests/test_cuda_graph.py`.
"""

import lightning as L
import pytest
import torch

from conftest import compose_train
from gan_digits.checkpoint import load_checkpoint
from gan_digits.training import build, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA graph step needs a CUDA GPU")

DECAY = "model.scheduler={_target_:torch.optim.lr_scheduler.ExponentialLR,_partial_:true,gamma:0.5}"


def fit(model: str, cuda_graph: bool, overrides: list[str], tmp_path):
    # 12 batches over 3 epochs of 4: 3 eager warm-up batches, a capture, replays, and (with a
    # scheduler) a capture again after each epoch's new rates.
    cfg = compose_train(model, [f"model.cuda_graph={cuda_graph}", "trainer.accelerator=gpu", "trainer.max_steps=24",
                                "trainer.deterministic=true", *overrides], output_dir=tmp_path / str(cuda_graph))
    L.seed_everything(cfg.seed)
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule)
    return module, trainer


@pytest.mark.parametrize("model,overrides,captures", [("gan", [], 1), ("dcgan", [], 1), ("cdcgan", [], 1),
                                                      ("dcgan", [DECAY], 3)])
def test_graphed_training_matches_eager(model, overrides, captures, tmp_path):
    eager, eager_trainer = fit(model, False, overrides, tmp_path)
    graphed, graphed_trainer = fit(model, True, overrides, tmp_path)

    assert eager.graphed_step is None
    assert graphed.graphed_step.calls == 12 and graphed.graphed_step.captures == captures
    assert graphed_trainer.global_step == eager_trainer.global_step == 24
    for name, value in eager.state_dict().items():
        other = graphed.state_dict()[name]
        assert torch.allclose(value.float(), other.float(), rtol=1e-4, atol=1e-5), name
    for name in ("train/d_loss", "train/g_loss"):
        assert torch.isfinite(graphed_trainer.callback_metrics[name])


def _state(run_dir) -> dict:
    return load_checkpoint(run_dir / "checkpoints" / "last.ckpt")


def test_resumed_graphed_run_equals_uninterrupted_and_resumes_on_a_cpu(tmp_path):
    gpu = ["trainer.accelerator=gpu", "trainer.deterministic=true"]
    train(compose_train("dcgan", [*gpu, "trainer.max_steps=24"], output_dir=tmp_path / "whole"))
    train(compose_train("dcgan", [*gpu, "trainer.max_steps=12"], output_dir=tmp_path / "half"))
    train(compose_train("dcgan", [*gpu, "trainer.max_steps=24", "ckpt_path=last"], output_dir=tmp_path / "half"))
    whole, resumed = _state(tmp_path / "whole"), _state(tmp_path / "half")
    assert resumed["global_step"] == whole["global_step"] == 24
    for name, value in whole["state_dict"].items():
        assert torch.allclose(value.float(), resumed["state_dict"][name].float(), rtol=1e-4, atol=1e-5), name
    # Its optimizers were capturable on the GPU: on a CPU they step eagerly.
    train(compose_train("dcgan", ["trainer.max_steps=28", "ckpt_path=last"], output_dir=tmp_path / "half"))
    assert _state(tmp_path / "half")["global_step"] == 28
