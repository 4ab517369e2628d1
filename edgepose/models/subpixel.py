"""A strided transposed convolution rewritten exactly as one convolution + pixel shuffle (sub-pixel conv).

ConvTranspose2d(k, stride s, padding p) computes each output phase (Y mod s, X mod s) from a fixed
(k/s) x (k/s) window of the input with a fixed subset of its taps. So one Conv2d with s*s*C_out output
channels and kernel k/s computes every phase everywhere; each phase is then cropped at its own offset and
the phases are interleaved by a pixel shuffle. The MACs are those of the deconvolution, the result is the
same to float rounding, and INT8 runtimes run it as an ordinary INT8 convolution: OpenVINO's CPU plugin on
AVX2 runs ConvolutionBackpropData in f32 even in an INT8 model (about half the time of the demo model).

Supported: groups 1, dilation 1, k a multiple of s, and k + output_padding = s + 2p (output = s x input,
every phase the same size): SimpleBaselines' k=4 s=2 p=1 and the k=s p=0 "unpooling" deconv.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def subpixel_unsupported(deconv: nn.ConvTranspose2d) -> str | None:
    """Why `deconv` cannot be rewritten exactly, or None when it can."""
    (kh, kw), (sh, sw), (ph, pw) = deconv.kernel_size, deconv.stride, deconv.padding
    (oph, opw), (dh, dw) = deconv.output_padding, deconv.dilation
    if deconv.groups != 1:
        return f"groups {deconv.groups} (only 1 is rewritten)"
    if (dh, dw) != (1, 1):
        return f"dilation {(dh, dw)}"
    if kh % sh or kw % sw:
        return f"kernel {(kh, kw)} is not a multiple of the stride {(sh, sw)}"
    if kh + oph != sh + 2 * ph or kw + opw != sw + 2 * pw:
        return f"output is not stride x input (kernel {(kh, kw)}, stride {(sh, sw)}, padding {(ph, pw)})"
    if isinstance(deconv.padding, str):
        return f"padding '{deconv.padding}'"
    return None


def _phase_taps(kernel: int, stride: int, padding: int) -> tuple[int, list[int], list[list[int]]]:
    """Per output phase a: the offset q(a) of its input window and, per window tap t, the deconv tap.

    Output row s*m + a takes input rows m + q - j for j in 0..T-1 (T = k/s) with deconv tap s*j + r,
    where q, r = divmod(a + p, s). The conv sees them in increasing row order (t = T-1-j).
    """
    taps = kernel // stride
    offsets, phase_taps = [], []
    for a in range(stride):
        q, r = divmod(a + padding, stride)
        offsets.append(q)
        phase_taps.append([stride * (taps - 1 - t) + r for t in range(taps)])
    return taps, offsets, phase_taps


class SubpixelDeconv(nn.Module):
    """Conv2d(C_in, s*s*C_out, k/s) + per-phase crop + pixel shuffle; same function as the deconv it replaces."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int], bias: bool) -> None:  # fmt: skip
        super().__init__()
        if stride[0] != stride[1]:
            raise ValueError(f"sub-pixel rewrite needs a square stride, got {stride}")
        self.out_channels, self.stride = out_channels, stride[0]
        self.kernel_size, self.deconv_padding = tuple(kernel_size), tuple(padding)
        taps_h, self._rows, _ = _phase_taps(kernel_size[0], self.stride, padding[0])
        taps_w, self._cols, _ = _phase_taps(kernel_size[1], self.stride, padding[1])
        # pad so that every phase's window starts inside the padded input: start = q(a) - (T - 1) + pad
        self._pad = (max(taps_h - 1 - min(self._rows), max(self._rows)), max(taps_w - 1 - min(self._cols), max(self._cols)))
        self.conv = nn.Conv2d(in_channels, self.stride**2 * out_channels, (taps_h, taps_w), padding=self._pad, bias=bias)
        self._taps = (taps_h, taps_w)

    @classmethod
    def from_deconv(cls, deconv: nn.ConvTranspose2d) -> SubpixelDeconv:
        """The exact rewrite of `deconv` (its weights rearranged, nothing fitted)."""
        reason = subpixel_unsupported(deconv)
        if reason is not None:
            raise ValueError(f"cannot rewrite this ConvTranspose2d exactly: {reason}")
        module = cls(deconv.in_channels, deconv.out_channels, deconv.kernel_size, deconv.stride, deconv.padding,
                     deconv.bias is not None)  # fmt: skip
        module.load_deconv(deconv)
        return module.to(deconv.weight.device, deconv.weight.dtype)

    @torch.no_grad()
    def load_deconv(self, deconv: nn.ConvTranspose2d) -> None:
        """Fill the conv from the deconv's weight (C_in, C_out, kh, kw) and bias."""
        s = self.stride
        _, _, taps_h = _phase_taps(self.kernel_size[0], s, self.deconv_padding[0])
        _, _, taps_w = _phase_taps(self.kernel_size[1], s, self.deconv_padding[1])
        weight = deconv.weight.detach().transpose(0, 1)  # (C_out, C_in, kh, kw)
        blocks = []
        for a in range(s):
            for b in range(s):
                rows, cols = torch.tensor(taps_h[a]), torch.tensor(taps_w[b])
                blocks.append(weight[:, :, rows][:, :, :, cols])
        self.conv.weight.copy_(torch.cat(blocks, dim=0))
        if deconv.bias is not None:
            self.conv.bias.copy_(deconv.bias.detach().repeat(s * s))

    def forward(self, x: Tensor) -> Tensor:
        s, c_out = self.stride, self.out_channels
        h, w = x.shape[-2:]
        z = self.conv(x)
        phases = []
        for a in range(s):
            top = self._rows[a] - (self._taps[0] - 1) + self._pad[0]
            for b in range(s):
                left = self._cols[b] - (self._taps[1] - 1) + self._pad[1]
                block = (a * s + b) * c_out
                phases.append(z[:, block:block + c_out, top:top + h, left:left + w])
        stacked = torch.stack(phases, dim=2)  # (N, C_out, s*s, H, W): channel o*s*s + a*s + b after the reshape
        return F.pixel_shuffle(stacked.flatten(1, 2), s)

    def extra_repr(self) -> str:
        return f"stride={self.stride}, deconv kernel={self.kernel_size}, deconv padding={self.deconv_padding}"
