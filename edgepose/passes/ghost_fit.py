"""Least-squares refits of a Ghost module on real activations (after ghost_init's weight-space start).

Layers are fitted in forward order on the inputs they see in the partly ghosted model, against the
original model's outputs, so each also absorbs part of the error of the layers before it.
Primary: each intrinsic filter f minimises sum_k w_k^2 ||a_k f.x - o_k||^2 over its channel group
(a_k the cheap ops' centre taps, a_0 = 1; w_k the channel weights), pulled towards the weight-space
start by a ridge. Cheap: each depthwise kernel (+ bias) so that ghost channel j ~ original channel j.
Deep layers see few pixels per image, so an unregularised fit chases noise: the ridge (or keeping
the start) is chosen on half of the calibration images held out, then refitted on all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgepose.passes.ghost_init import GhostLayer, filter_matrix, set_filters

RIDGES = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # candidates, times the mean diagonal of the Gram matrix


def design_matrix(layer: nn.Conv2d | nn.ConvTranspose2d, x: Tensor) -> Tensor:
    """(N, n, L): layer(x)[:, j] == filter_matrix(layer)[j] @ design (no bias), one column per output pixel."""
    if isinstance(layer, nn.ConvTranspose2d):
        cin, (kh, kw) = layer.in_channels, layer.kernel_size
        # a grouped transposed conv with one-hot kernels spreads input channel c into its k*k tap maps
        one_hot = torch.eye(kh * kw, dtype=x.dtype).view(1, kh * kw, kh, kw).repeat(cin, 1, 1, 1)
        cols = F.conv_transpose2d(x, one_hot, None, layer.stride, layer.padding, layer.output_padding, cin, layer.dilation)
        return cols.flatten(2)
    return F.unfold(x, layer.kernel_size, layer.dilation, layer.padding, layer.stride)


@dataclass
class Patches:
    """Input patches (n unknowns, S samples) of one least-squares problem: kept as the Gram matrix
    (n, n) when S > n, else as the patches themselves (n, S), solved in the dual (S x S)."""

    gram: Tensor | None
    cols: Tensor | None

    def mean_diag(self) -> Tensor:
        if self.gram is not None:
            return self.gram.diagonal().mean()
        assert self.cols is not None
        return (self.cols * self.cols).sum() / self.cols.shape[0]

    def quad(self, f: Tensor) -> Tensor:
        """f_i' C f_i per row of f (m, n)."""
        if self.gram is not None:
            return ((f @ self.gram) * f).sum(-1)
        return (f @ self.cols).pow(2).sum(-1)

    def solve(self, v: Tensor, lam: Tensor) -> Tensor:
        """Rows f with (C + lam I) f = v."""
        if self.gram is not None:
            factor = torch.linalg.cholesky(self.gram + lam * torch.eye(self.gram.shape[0], dtype=self.gram.dtype))
            return torch.cholesky_solve(v.T, factor).T
        cols = self.cols
        assert cols is not None
        kernel = cols.T @ cols + lam * torch.eye(cols.shape[1], dtype=cols.dtype)
        inner = torch.linalg.solve(kernel, (v @ cols).T).T  # (m, S)
        return (v - inner @ cols.T) / lam

    def __add__(self, other: Patches) -> Patches:
        if self.cols is not None and other.cols is not None and self.cols.shape[1] + other.cols.shape[1] <= self.cols.shape[0]:
            return Patches(None, torch.cat([self.cols, other.cols], dim=1))
        return Patches(self.as_gram() + other.as_gram(), None)

    def as_gram(self) -> Tensor:
        return self.gram if self.gram is not None else self.cols @ self.cols.T  # type: ignore[operator]


def _patches(layer: nn.Conv2d | nn.ConvTranspose2d, x: Tensor, target: Tensor, coef: Tensor, chunk: int = 2) -> tuple[Patches, Tensor]:
    """The layer's input patches and, per group, sum_k coef_k * patches . o_k (m, n)."""
    ratio, m = coef.shape
    n_out = target.shape[1]
    gram, cols_list, cross = None, [], None
    for start in range(0, x.shape[0], chunk):
        cols = design_matrix(layer, x[start : start + chunk]).transpose(0, 1).flatten(1)  # (n, samples)
        t = target[start : start + chunk].transpose(0, 1).flatten(1)  # (cout, samples)
        if layer.bias is not None:  # the biases are already matched by the start: fit the rest
            t = t - layer.bias[:, None]
        if cross is None:
            cross = torch.zeros(ratio * m, cols.shape[0])
            dual = cols.shape[1] * x.shape[0] / min(chunk, x.shape[0]) <= cols.shape[0]
            gram = None if dual else torch.zeros(cols.shape[0], cols.shape[0])
        cross[:n_out] += t @ cols.T
        if gram is None:
            cols_list.append(cols.double())
        else:
            gram += cols @ cols.T
    assert cross is not None
    num = coef[..., None].mul(cross.double().view(ratio, m, -1)).sum(0)
    if gram is None:
        return Patches(None, torch.cat(cols_list, dim=1)), num
    return Patches(gram.double(), None), num


@torch.no_grad()
def refine_primary(
    ghost: GhostLayer, layer: nn.Conv2d | nn.ConvTranspose2d, x: Tensor, target: Tensor, weights: Tensor,
) -> float | None:  # fmt: skip
    """Refit the intrinsic filters on real inputs; returns the ridge chosen, or None when the held-out
    half says the weight-space start is better (then it is kept)."""
    m, ratio = ghost.primary.out_channels, len(ghost.cheap) + 1
    if x.shape[0] < 2:
        return None
    prior = filter_matrix(ghost.primary).double()
    a = torch.ones(ratio, m, dtype=torch.float64)
    for k, cheap in enumerate(ghost.cheap):
        d = cheap.kernel_size[0]
        a[k + 1] = cheap.weight[:, 0, d // 2, d // 2].double()
    w2 = torch.zeros(ratio * m, dtype=torch.float64)
    w2[: target.shape[1]] = weights.double() ** 2
    w2 = w2.view(ratio, m)
    den = (w2 * a * a).sum(0).clamp_min(1e-12)  # (m,)
    half = x.shape[0] // 2
    fit, fit_num = _patches(layer, x[:half], target[:half], w2 * a)
    held, held_num = _patches(layer, x[half:], target[half:], w2 * a)

    def solve(patches: Patches, num: Tensor, ridge: float) -> Tensor:
        lam = ridge * patches.mean_diag().clamp_min(1e-12)
        return patches.solve(num / den[:, None] + lam * prior, lam)

    def held_out_loss(f: Tensor) -> float:
        return float((den * held.quad(f)).sum() - 2 * (f * held_num).sum())

    best_loss, best_ridge = held_out_loss(prior), None
    for ridge in RIDGES:
        loss = held_out_loss(solve(fit, fit_num, ridge))
        if loss < best_loss:
            best_loss, best_ridge = loss, ridge
    if best_ridge is not None:
        solution = solve(fit + held, fit_num + held_num, best_ridge)
        set_filters(ghost.primary, solution.to(ghost.primary.weight.dtype))
    return best_ridge


@torch.no_grad()
def refine_cheap(ghost: GhostLayer, x: Tensor, target: Tensor) -> None:
    """Refit each cheap depthwise kernel (+ bias); per channel, the ridge or keeping it is chosen held out."""
    m = ghost.primary.out_channels
    if x.shape[0] < 2:
        return
    half = x.shape[0] // 2
    for k, cheap in enumerate(ghost.cheap):
        lo, hi = (k + 1) * m, min((k + 2) * m, target.shape[1])
        if hi <= lo:
            continue
        count, d = hi - lo, cheap.kernel_size[0]
        prior = cheap.weight[:count].reshape(count, -1).double()
        if cheap.bias is not None:
            prior = torch.cat([prior, cheap.bias[:count, None].double()], dim=1)
        fit = _window_equations(ghost.primary, x[:half], target[:half, lo:hi], d, cheap.bias is not None)
        held = _window_equations(ghost.primary, x[half:], target[half:, lo:hi], d, cheap.bias is not None)
        best_loss, best_ridge = _quadratic(prior, *held), torch.full((count,), float("nan"), dtype=torch.float64)
        for ridge in RIDGES:
            loss = _quadratic(_ridge_solve(*fit, prior, ridge), *held)
            better = loss < best_loss
            best_loss, best_ridge = torch.where(better, loss, best_loss), torch.where(better, ridge, best_ridge)
        chosen = ~best_ridge.isnan()
        gram, rhs = fit[0] + held[0], fit[1] + held[1]
        solution = torch.where(chosen[:, None], _ridge_solve(gram, rhs, prior, best_ridge.nan_to_num(1.0)), prior)
        cheap.weight[:count] = solution[:, : d * d].reshape(count, 1, d, d).to(cheap.weight.dtype)
        if cheap.bias is not None:
            cheap.bias[:count] = solution[:, -1].to(cheap.bias.dtype)


def _window_equations(primary: nn.Module, x: Tensor, target: Tensor, d: int, bias: bool, chunk: int = 4):  # noqa: ANN202
    """Per ghost channel: Gram (count, p, p) and right-hand side (count, p) of its d x d window of the intrinsic."""
    count = target.shape[1]
    gram = rhs = None
    for start in range(0, x.shape[0], chunk):
        y = primary(x[start : start + chunk])
        cols = F.unfold(y[:, :count], d, padding=d // 2).view(y.shape[0], count, d * d, -1)
        if bias:
            cols = torch.cat([cols, torch.ones_like(cols[:, :, :1])], dim=2)
        cols, t = cols.double(), target[start : start + chunk].flatten(2).double()
        g, r = torch.einsum("nipl,niql->ipq", cols, cols), torch.einsum("nipl,nil->ip", cols, t)
        gram, rhs = (g, r) if gram is None else (gram + g, rhs + r)
    return gram, rhs


def _ridge_solve(gram: Tensor, rhs: Tensor, prior: Tensor, ridge: float | Tensor) -> Tensor:
    """argmin w'Gw - 2 w'r + lam |w - prior|^2 per channel, lam = ridge x mean diagonal of G."""
    lam = torch.as_tensor(ridge, dtype=gram.dtype) * gram.diagonal(dim1=1, dim2=2).mean(-1).clamp_min(1e-12)
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype)
    return torch.linalg.solve(gram + lam[:, None, None] * eye, rhs + lam[:, None] * prior)


def _quadratic(w: Tensor, gram: Tensor, rhs: Tensor) -> Tensor:
    """Squared error up to a constant, per channel: w'Gw - 2 w'r."""
    return torch.einsum("ip,ipq,iq->i", w, gram, w) - 2 * (w * rhs).sum(-1)
