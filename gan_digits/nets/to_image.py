"""The generator's last layer, a transposed conv down to one channel, as a matrix product and a fold.

On a CPU, oneDNN runs a transposed convolution with a single output channel at a few GFLOP/s:
that one small layer cost a DCGAN step nearly as much as its 64-channel neighbour. The same
arithmetic as a matrix product (every input pixel's k x k patch of output) and `F.fold` (adding
the overlapping patches into place) is 6-10x faster forward, 1.7-2.9x with the backward (batch
64-128, this project's 2-core CPU). Same parameters and results as `nn.ConvTranspose2d`, so it is
a drop-in: checkpoints load either way. On a GPU the fold's backward (an unfold) was a quarter of
a DCGAN step's kernel time where cuDNN's transposed conv is cheap (profiled on an H100): there
the layer is cuDNN's.
"""

import torch
import torch.nn.functional as F
from torch import nn


def conv_transpose_by_fold(x: torch.Tensor, weight: torch.Tensor, size, kernel_size, stride, padding) -> torch.Tensor:
    """`conv_transpose2d(x, weight)` (groups 1, dilation 1) at output `size`, as matmul + `F.fold`."""
    # (c_out*kh*kw, c_in) @ (n, c_in, h*w): each input pixel's patch of output, summed into place by fold.
    # As a batched product: `weight @ x` runs as one GEMM on x transposed and hands x's gradient
    # back in channels_last strides, and the ReLU before G's last layer then ran its backward on
    # mixed memory formats (~1.6 ms a call on a 2-core CPU); this way the bf16 DCGAN step is 10-15%
    # faster there (docs/speed.md), and the forward too.
    patches = torch.bmm(weight.flatten(1).t().expand(x.shape[0], -1, -1), x.flatten(2))
    return F.fold(patches, size, kernel_size, padding=padding, stride=stride)


class FoldConvTranspose2d(nn.ConvTranspose2d):
    """`nn.ConvTranspose2d` (groups 1, dilation 1) computed as matmul + `F.fold`: for few output channels."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.groups != 1 or self.dilation != (1, 1):
            raise ValueError("FoldConvTranspose2d supports groups=1 and dilation=1 only")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        _, _, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = self.kernel_size, self.stride, self.padding, self.output_padding
        size = ((h - 1) * sh - 2 * ph + kh + oh, (w - 1) * sw - 2 * pw + kw + ow)
        out = conv_transpose_by_fold(x, self.weight, size, self.kernel_size, self.stride, self.padding)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)
