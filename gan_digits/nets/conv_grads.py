"""Convolutions that compute part of their gradient their own way on a CPU, where oneDNN's is slow.

Two kinds, each found by profiling the DCGAN step on a 2-core AMD Zen 4 (AVX-512 bf16, no AMX;
docs/speed.md):
- `BF16GradConv2d`, `BF16GradConvTranspose2d` (D's 64->128 conv, G's 128->64 transposed conv): in
  bf16 oneDNN computes a weight gradient with a `jit_bf16` backward-weights kernel at about half the
  speed of the layer's forward. A weight gradient is itself a convolution, though: of the layer's
  input by its output gradient, both with batch and channels swapped, dilated by the stride. Asked
  for as a forward convolution, oneDNN computes D's at batch 128 in 3.1 ms instead of 6.3 (its
  verbose log; swapping batch and channels costs ~1 ms more) and G's in 3.2 instead of 6.1. In fp32,
  where oneDNN's own is the faster, the layers are PyTorch's; on a CPU with AMX too, whose bf16
  backward-weights kernel beat this route (on a 2-core Intel Xeon with AMX the bf16 step ran 0.9x
  as fast with it in a raw loop, dcgan and cdcgan, and 0.68x through Lightning, dcgan).
- `FoldGradConv2d` (D's first layer, from the image's one channel): G's step needs its input
  gradient, a transposed convolution down to one channel, which oneDNN runs at ~20 GFLOP/s (2.7-3.1
  ms in bf16, 3.9-8.4 ms in fp32, batch 128). As a matrix product and `F.fold`, the mirror of G's
  last layer (to_image.py), ~1 ms. On the Xeon with AMX, with it and without, the raw bf16 step
  ran 0.98x (dcgan) and 1.04x (cdcgan) as fast: even, so it stays.
Same parameters, and the same outputs and gradients up to rounding. On a GPU the layers are
PyTorch's own, and where a layer's own way does not apply (no gradient asked for, other dtypes) so
is its backward.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from gan_digits.cpu_features import cpu_capabilities
from gan_digits.nets.to_image import conv_transpose_by_fold


def _weight_grad_as_conv(inputs: torch.Tensor, grad: torch.Tensor, layer: nn.modules.conv._ConvNd) -> torch.Tensor:
    """d(loss)/d(weight) of `conv2d(inputs, weight)` for the output gradient `grad`, as a forward
    convolution: weight[o, i, a, b] gathers grad[n, o, y, x] * inputs[n, i, stride*y + a - padding, ...]
    over n, y and x, which is `inputs` (channels i, batch n as its channels) convolved with `grad`
    (batch n as its input channels) dilated by the stride. A transposed convolution swaps the roles."""
    if layer.transposed:  # its weight is [in, out, k, k]: the gradient of a conv from its output to its input
        inputs, grad = grad, inputs
    swapped = F.conv2d(inputs.transpose(0, 1).contiguous(), grad.transpose(0, 1).contiguous(),
                       padding=layer.padding, dilation=layer.stride)
    (kh, kw) = layer.kernel_size
    return swapped[:, :, :kh, :kw].transpose(0, 1)  # rows past the kernel: inputs the stride never reaches


class _Convolution(torch.autograd.Function):
    """`layer`'s convolution, cast as autocast would cast it, with the gradients `layer.gradients` computes."""

    @staticmethod
    def forward(ctx, x, weight, bias, layer):
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        x, weight = x.to(dtype), weight.to(dtype)
        bias = None if bias is None else bias.to(dtype)
        with torch.autocast("cpu", enabled=False):
            out = torch.convolution(x, weight, bias, layer.stride, layer.padding, layer.dilation,
                                    layer.transposed, layer.output_padding, layer.groups)
        ctx.save_for_backward(x, weight)
        ctx.layer = layer
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        # Autograd casts each gradient to its input's dtype.
        return *ctx.layer.gradients(grad, x, weight, ctx.needs_input_grad[:3]), None


class _OwnGradients:
    """What the layers share: the check, the choice of backward, and PyTorch's gradients to start from."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.groups != 1 or self.dilation != (1, 1) or self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError(f"{type(self).__name__} supports groups=1, dilation=1 and numeric zero padding only")

    def applies(self, x: torch.Tensor) -> bool:
        """Whether this layer's own gradients are the faster for `x` (on a CPU, with gradients on)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, *args) -> torch.Tensor:
        if args or x.device.type != "cpu" or not torch.is_grad_enabled() or not self.applies(x):
            return super().forward(x, *args)  # with args: ConvTranspose2d's output_size
        return _Convolution.apply(x, self.weight, self.bias, self)

    def gradients(self, grad, x, weight, needs) -> tuple[torch.Tensor | None, ...]:
        """PyTorch's gradients for the input, weight and bias, those that `needs` asks for."""
        if not any(needs):
            return None, None, None
        return torch.ops.aten.convolution_backward(
            grad, x, weight, [self.out_channels], self.stride, self.padding, self.dilation, self.transposed,
            self.output_padding, self.groups, list(needs))


class _BF16WeightGrad(_OwnGradients):
    def applies(self, x):
        bf16 = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        return bf16 and not cpu_capabilities().get("amx_bf16")

    def gradients(self, grad, x, weight, needs):
        need_x, need_weight, need_bias = needs
        # Only the input's from PyTorch: asked for the bias's too, oneDNN computes the weight's alongside it.
        x_grad = super().gradients(grad, x, weight, (need_x, False, False))[0]
        weight_grad = _weight_grad_as_conv(x, grad, self) if need_weight else None
        bias_grad = grad.sum((0, 2, 3), dtype=torch.float32) if need_bias else None
        return x_grad, weight_grad, bias_grad


class BF16GradConv2d(_BF16WeightGrad, nn.Conv2d):
    """`nn.Conv2d` (groups 1, dilation 1) whose bf16 weight gradient on a CPU without AMX is a forward
    convolution."""


class BF16GradConvTranspose2d(_BF16WeightGrad, nn.ConvTranspose2d):
    """`nn.ConvTranspose2d` (groups 1, dilation 1) whose bf16 weight gradient on a CPU without AMX is a
    forward convolution."""


class FoldGradConv2d(_OwnGradients, nn.Conv2d):
    """`nn.Conv2d` (groups 1, dilation 1) whose input gradient on a CPU is a matrix product and a fold:
    for few input channels."""

    def applies(self, x):
        return x.requires_grad  # D's input in G's step; D's own step asks only for the weight's

    def gradients(self, grad, x, weight, needs):
        _, weight_grad, bias_grad = super().gradients(grad, x, weight, (False, *needs[1:]))
        # A conv's input gradient is the transposed conv of its output gradient by the same weight.
        x_grad = (conv_transpose_by_fold(grad, weight, x.shape[-2:], self.kernel_size, self.stride, self.padding)
                  if needs[0] else None)
        return x_grad, weight_grad, bias_grad
