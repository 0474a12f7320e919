"""Convolutions whose bf16 weight gradient, on a CPU, runs as a forward convolution.

On the 2-core AMD Zen 4 this project is measured on (AVX-512 bf16, no AMX), oneDNN computes a bf16
convolution's weight gradient with a `jit_bf16` backward-weights kernel at about half the speed of
the same layer's forward. A weight gradient is itself a convolution, though: of the layer's input
by its output gradient, both with batch and channels swapped, dilated by the stride. Asked for as a
forward convolution, oneDNN computes D's 64->128-channel weight gradient at batch 128 in 3.1 ms
instead of 6.3 (its verbose log; swapping batch and channels costs ~1 ms more) and G's 128->64
transposed one in 3.2 instead of 6.1: the bf16 dcgan and cdcgan steps ran 1.05-1.2x as fast
(docs/speed.md). The input gradient stays PyTorch's. Same parameters, and the same gradients up to
bf16 rounding; in fp32 (where oneDNN's own weight gradient is the faster) and on a GPU the layers
are PyTorch's own. Not measured on a CPU with AMX, whose bf16 kernels differ (the Intel Xeon
measured here has none, and `auto` trains there in fp32).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


def _weight_grad(inputs: torch.Tensor, grad: torch.Tensor, layer: nn.modules.conv._ConvNd) -> torch.Tensor:
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


class _BF16Convolution(torch.autograd.Function):
    """The layer's convolution in bf16, with `_weight_grad` for its weight's gradient."""

    @staticmethod
    def forward(ctx, x, weight, bias, layer):
        x, weight_bf16 = x.to(torch.bfloat16), weight.to(torch.bfloat16)
        bias = None if bias is None else bias.to(torch.bfloat16)
        with torch.autocast("cpu", enabled=False):  # cast above, as autocast casts a convolution
            out = torch.convolution(x, weight_bf16, bias, layer.stride, layer.padding, layer.dilation,
                                    layer.transposed, layer.output_padding, layer.groups)
        ctx.save_for_backward(x, weight_bf16)
        ctx.layer = layer
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        layer = ctx.layer
        need_x, need_weight, need_bias = ctx.needs_input_grad[:3]
        x_grad = weight_grad = bias_grad = None
        if need_x:
            # Only the input's: asked for the bias's too, oneDNN computes the weight's alongside it.
            x_grad = torch.ops.aten.convolution_backward(
                grad, x, weight, None, layer.stride, layer.padding, layer.dilation, layer.transposed,
                layer.output_padding, layer.groups, [True, False, False])[0]
        if need_weight:
            weight_grad = _weight_grad(x, grad, layer)
        if need_bias:
            bias_grad = grad.sum((0, 2, 3), dtype=torch.float32)
        return x_grad, weight_grad, bias_grad, None  # autograd casts each to its input's dtype


class _BF16Grad:
    """What the two layers share: the check, and the choice between the bf16 path and PyTorch's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.groups != 1 or self.dilation != (1, 1) or self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError(f"{type(self).__name__} supports groups=1, dilation=1 and numeric zero padding only")

    def forward(self, x: torch.Tensor, *args) -> torch.Tensor:
        in_bf16 = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        if args or x.device.type != "cpu" or not in_bf16 or not torch.is_grad_enabled():
            return super().forward(x, *args)
        return _BF16Convolution.apply(x, self.weight, self.bias, self)


class BF16GradConv2d(_BF16Grad, nn.Conv2d):
    """`nn.Conv2d` (groups 1, dilation 1) whose bf16 weight gradient on a CPU is a forward convolution."""


class BF16GradConvTranspose2d(_BF16Grad, nn.ConvTranspose2d):
    """`nn.ConvTranspose2d` (groups 1, dilation 1) whose bf16 weight gradient on a CPU is a forward
    convolution. (With `output_size` given, PyTorch's own.)"""
