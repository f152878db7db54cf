"""Contrast-driven feature aggregation (CDFA, from ConDSeg): local window attention whose weights are predicted from
the foreground feature map, then from the background feature map."""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from .convolution import conv_norm_act, linear_upsample

__all__ = ["ContrastDrivenAggregation", "GuidanceProjection", "window_unfold", "window_fold"]


def _window_offsets(kernel_size: int, spatial_dims: int) -> list[list[int]]:
    """Offsets of the ``kernel_size ** spatial_dims`` window positions, row-major (the order of ``F.unfold``)."""
    return [list(o) for o in itertools.product(range(kernel_size), repeat=spatial_dims)]


def _unfold(x: torch.Tensor, offsets: list[list[int]], padding: int, spatial_dims: int) -> torch.Tensor:
    spatial = x.shape[1 : 1 + spatial_dims]
    pad: list[int] = [0, 0] * (x.ndim - 1 - spatial_dims)
    for _ in range(spatial_dims):
        pad += [padding, padding]
    padded = F.pad(x, pad)
    windows: list[torch.Tensor] = []
    for offset in offsets:
        window = padded
        for d in range(spatial_dims):
            window = window.narrow(d + 1, offset[d], spatial[d])
        windows.append(window)
    return torch.stack(windows, dim=-2)


def _fold(windows: torch.Tensor, offsets: list[list[int]], padding: int, spatial_dims: int) -> torch.Tensor:
    spatial = windows.shape[1 : 1 + spatial_dims]
    shape = list(windows.shape)
    shape.pop(-2)
    for d in range(spatial_dims):
        shape[d + 1] += 2 * padding
    out = windows.new_zeros(shape)
    for i, window in enumerate(windows.unbind(-2)):
        target = out
        for d in range(spatial_dims):
            target = target.narrow(d + 1, offsets[i][d], spatial[d])
        target.add_(window)
    for d in range(spatial_dims):
        out = out.narrow(d + 1, padding, spatial[d])
    return out


def _fold_out_of_place(
    windows: torch.Tensor, offsets: list[list[int]], padding: int, spatial_dims: int
) -> torch.Tensor:
    """:func:`_fold` without in-place writes: each window is zero-padded into place and the padded windows are summed.

    The same values as :func:`_fold` (the same additions, in the same order); used when exporting to ONNX, whose
    TorchScript-based exporter mistranslates ``add_`` into a ``narrow`` view of a buffer (wrong logits, no error).
    """
    spatial = windows.shape[1 : 1 + spatial_dims]
    feature_pad: list[int] = [0, 0] * (windows.ndim - 2 - spatial_dims)
    out: torch.Tensor | None = None
    for i, window in enumerate(windows.unbind(-2)):
        pad = list(feature_pad)
        for d in reversed(range(spatial_dims)):
            pad += [offsets[i][d], 2 * padding - offsets[i][d]]
        placed = F.pad(window, pad)
        out = placed if out is None else out + placed
    assert out is not None  # at least one window offset
    for d in range(spatial_dims):
        out = out.narrow(d + 1, padding, spatial[d])
    return out


def _channels_to_last(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, *S) -> (B, *S, C)``. A ``permute`` with non-negative axes (what ``torch.movedim(x, 1, -1)`` does):
    the TorchScript-based ONNX exporter writes ``movedim``'s negative axis into the ``Transpose`` permutation, which
    ONNX rejects."""
    return x.permute([0] + list(range(2, x.ndim)) + [1])


def _channels_to_first(x: torch.Tensor) -> torch.Tensor:
    """``(B, *S, C) -> (B, C, *S)``, the inverse of :func:`_channels_to_last`."""
    return x.permute([0, x.ndim - 1] + list(range(1, x.ndim - 1)))


class _WindowUnfold(torch.autograd.Function):
    """Unfold whose backward is the fold (its adjoint), so no per-offset zero-filled gradients are allocated."""

    @staticmethod
    def forward(ctx, x, offsets, padding, spatial_dims):  # type: ignore[override]
        ctx.geometry = (offsets, padding, spatial_dims)
        return _unfold(x, offsets, padding, spatial_dims)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return _WindowFold.apply(grad, *ctx.geometry), None, None, None


class _WindowFold(torch.autograd.Function):
    """Fold whose backward is the unfold (its adjoint)."""

    @staticmethod
    def forward(ctx, windows, offsets, padding, spatial_dims):  # type: ignore[override]
        ctx.geometry = (offsets, padding, spatial_dims)
        return _fold(windows, offsets, padding, spatial_dims)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return _WindowUnfold.apply(grad, *ctx.geometry), None, None, None


def window_unfold(x: torch.Tensor, offsets: list[list[int]], padding: int, spatial_dims: int) -> torch.Tensor:
    """Gather the ``K = k^d`` window positions around every location of a map whose spatial dimensions are
    ``1 .. spatial_dims`` and whose trailing dimensions (one or more) are features: ``(B, *S, *F) -> (B, *S, *F[:-1],
    K, F[-1])``.

    Entry ``[b, p, ..., i, f]`` is ``x[b, p + offsets[i] - padding, ..., f]`` (zero outside the map): ``F.unfold`` in
    any dimension, with the window axis placed where the attention matmul needs it.
    """
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return _unfold(x, offsets, padding, spatial_dims)
    return _WindowUnfold.apply(x, offsets, padding, spatial_dims)


def window_fold(windows: torch.Tensor, offsets: list[list[int]], padding: int, spatial_dims: int) -> torch.Tensor:
    """Adjoint of :func:`window_unfold`: scatter-add ``(B, *S, *F[:-1], K, F[-1])`` windows back to ``(B, *S, *F)``
    (``F.fold`` in any dimension; overlapping contributions are summed).

    While exporting to ONNX (``torch.onnx.is_in_onnx_export()``) the windows are summed out of place (zero-padded
    into position, then added): ONNX has no in-place write into a slice, and the TorchScript-based exporter turns
    the in-place form into a graph with wrong values. Both forms compute the same sums."""
    if torch.jit.is_scripting():
        return _fold(windows, offsets, padding, spatial_dims)
    if torch.onnx.is_in_onnx_export():
        return _fold_out_of_place(windows, offsets, padding, spatial_dims)
    if torch.jit.is_tracing():
        return _fold(windows, offsets, padding, spatial_dims)
    return _WindowFold.apply(windows, offsets, padding, spatial_dims)


class GuidanceProjection(nn.Module):
    """Brings a decoupled (foreground or background) map from 1/16 to a finer scale: a 3x3 unit, then
    ``log2(scale)`` x [linear up x2, 3x3 unit].

    Args:
        spatial_dims: number of spatial dimensions.
        channels: channels in and out.
        scale: up-sampling factor, a power of two (1 keeps the size).
        act: activation.
        norm: normalisation layer.
    """

    def __init__(
        self, spatial_dims: int, channels: int, scale: int, act: str | tuple = "telu", norm: str | tuple = "batch"
    ) -> None:
        super().__init__()
        steps = int(round(math.log2(scale)))
        if 2**steps != scale:
            raise ValueError(f"GuidanceProjection scale must be a power of two, got {scale}.")
        layers: list[nn.Module] = [conv_norm_act(spatial_dims, channels, channels, 3, act=act, norm=norm)]
        for _ in range(steps):
            layers += [
                linear_upsample(spatial_dims),
                conv_norm_act(spatial_dims, channels, channels, 3, act=act, norm=norm),
            ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ContrastDrivenAggregation(nn.Module):
    """CDFA(x, fg, bg) over ``kernel_size^d`` windows.

    Two 3x3 units bring ``x`` to ``channels``; ``V = Linear(x)`` is unfolded into windows; per window and head, the
    ``K x K`` attention weights (``K = kernel_size^d``) are ``softmax(Linear_fg(fg) * head_dim^-0.5)``; the attended
    windows are folded back (overlaps summed) and projected by a linear layer. The same is then done on that result with
    weights from ``bg`` (sharing the projection), and two 3x3 units finish.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: channels of ``x``.
        channels: working channels; ``fg`` and ``bg`` must have this many.
        num_heads: attention heads; must divide ``channels``.
        kernel_size: window size per dimension.
        act: activation of the convolution units.
        norm: normalisation layer.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        channels: int = 128,
        num_heads: int = 4,
        kernel_size: int = 3,
        act: str | tuple = "telu",
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        if channels % num_heads != 0:
            raise ValueError(f"channels ({channels}) must be divisible by num_heads ({num_heads}).")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}.")
        self.spatial_dims = spatial_dims
        self.num_heads = num_heads
        self.head_dim = channels // num_heads
        self.scale = self.head_dim**-0.5
        self.padding = kernel_size // 2
        self.offsets = _window_offsets(kernel_size, spatial_dims)
        self.window_size = len(self.offsets)
        # without gradients, the attention weights are computed for this many values at a time (1 MiB in float32):
        # predicted, normalised and applied while they are still in the CPU's cache
        self.attention_chunk_elements = 2**18

        self.input_units = nn.Sequential(
            conv_norm_act(spatial_dims, in_channels, channels, 3, act=act, norm=norm),
            conv_norm_act(spatial_dims, channels, channels, 3, act=act, norm=norm),
        )
        self.value = nn.Linear(channels, channels)
        self.attention_fg = nn.Linear(channels, num_heads * self.window_size**2)
        self.attention_bg = nn.Linear(channels, num_heads * self.window_size**2)
        self.projection = nn.Linear(channels, channels)
        self.output_units = nn.Sequential(
            conv_norm_act(spatial_dims, channels, channels, 3, act=act, norm=norm),
            conv_norm_act(spatial_dims, channels, channels, 3, act=act, norm=norm),
        )

    def _weights(self, guide: torch.Tensor, foreground: bool) -> torch.Tensor:
        """The (M, heads, K, K) attention weights of M locations ``guide`` (M, C), predicted from the foreground or the
        background map: ``softmax(Linear(guide) * head_dim^-0.5)``, the scale applied to the layer's weight and bias
        (the same up to float rounding, one pass over the M x heads x K x K values fewer)."""
        layer = self.attention_fg if foreground else self.attention_bg
        logits = F.linear(guide, layer.weight * self.scale, layer.bias * self.scale)
        return torch.softmax(logits.reshape(-1, self.num_heads, self.window_size, self.window_size), dim=-1)

    def _attend(self, x: torch.Tensor, guide: torch.Tensor, foreground: bool) -> torch.Tensor:
        """Window attention of a channel-last map ``x`` (B, *S, C) with weights predicted from ``guide`` (B, *S, C)
        (:meth:`_weights`); returns the folded, projected result (B, *S, C)."""
        shape = x.shape
        heads = x.reshape(list(shape[:-1]) + [self.num_heads, self.head_dim])
        windows = window_unfold(heads, self.offsets, self.padding, self.spatial_dims)  # (B, *S, heads, K, head_dim)
        values = windows.reshape(-1, self.num_heads, self.window_size, self.head_dim)
        locations = guide.reshape(-1, guide.shape[-1])
        chunk = self._chunk_locations(int(locations.shape[0]))
        if chunk < locations.shape[0]:
            attended = torch.empty_like(values)
            for start in range(0, int(locations.shape[0]), chunk):
                count = min(chunk, int(locations.shape[0]) - start)
                weights = self._weights(locations.narrow(0, start, count), foreground)
                torch.matmul(weights, values.narrow(0, start, count), out=attended.narrow(0, start, count))
        else:
            attended = torch.matmul(self._weights(locations, foreground), values)
        folded = window_fold(attended.reshape(windows.shape), self.offsets, self.padding, self.spatial_dims)
        return self.projection(folded.reshape(shape))

    def _chunk_locations(self, locations: int) -> int:
        """Locations whose attention weights are computed at a time: all of them while training, scripting, tracing or
        exporting (one graph); else as many as keep one chunk's weights within ``attention_chunk_elements``. Chunks do
        not change the result (each location's weights are its own); they bound the memory of the weights (K x K values
        per location and head: 729 per voxel and head in 3D) and keep them in the CPU's cache between the passes over
        them (linear layer, softmax, matmul)."""
        if torch.jit.is_scripting():
            return locations
        if torch.is_grad_enabled() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return locations
        per_location = self.num_heads * self.window_size**2
        return max(1, min(locations, self.attention_chunk_elements // per_location))

    def forward(self, x: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
        x = _channels_to_last(self.input_units(x))
        fg = _channels_to_last(fg)
        bg = _channels_to_last(bg)
        x = self._attend(self.value(x), fg, True)
        x = self._attend(x, bg, False)
        return self.output_units(_channels_to_first(x))
