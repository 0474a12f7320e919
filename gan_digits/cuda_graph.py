"""The whole adversarial step captured as one CUDA graph, replayed for every later batch.

On a GPU these small networks are bound by launching a few hundred tiny kernels per step, not by
arithmetic: a replay launches them all at once. The captured step is the eager one, traced once
(toggles, both backward passes, both Adam updates, the noise draw), so results match eager
training up to floating-point order.
"""

from collections.abc import Callable

import torch

Step = Callable[[torch.Tensor, torch.Tensor | None], dict[str, torch.Tensor]]


class GraphedStep:
    """Calls `step(real, y)` eagerly on a side stream for `warmup` batches (as CUDA graph capture
    requires), then captures it and replays the capture for every later batch.

    `optimizers` are the module's LightningOptimizers: their Adam states must be updatable inside a
    graph (`capturable`), and a replay skips their Python `step()`, so the replay tells Lightning
    itself that each optimizer stepped, keeping `global_step` (and max_steps, checkpoint names) right.
    Needs a fixed batch shape: the training sampler drops the last incomplete batch.
    """

    def __init__(self, step: Step, optimizers, warmup: int = 3):
        self.step = step
        self.optimizers = optimizers
        self.warmup = warmup
        self.calls = 0
        self.captures = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["capturable"] = True

    def reset(self) -> None:
        """Capture again at the next batch: the graph holds the learning rates as constants."""
        self.graph = None

    def __call__(self, real: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        self.calls += 1
        if self.calls <= self.warmup:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self.step(real, y)
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.graph is None:
            self.real, self.y = real.clone(), None if y is None else y.clone()
            self.graph = torch.cuda.CUDAGraph()
            self.captures += 1
            with torch.cuda.graph(self.graph):  # records the kernels (and counts the steps) without running them
                self.out = self.step(self.real, self.y)
        else:
            self.real.copy_(real)
            if y is not None:
                self.y.copy_(y)
            for optimizer in self.optimizers:
                optimizer._on_before_step()
                optimizer._on_after_step()
        self.graph.replay()
        return {name: value.clone() for name, value in self.out.items()}  # the next replay overwrites them
