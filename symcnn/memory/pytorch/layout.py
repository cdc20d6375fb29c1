"""Which tensors of a step are strided views rather than contiguous storages, where a kernel
needs them contiguous and so copies them (measured with torch 2.13 on the CPU,
``validation/fitting/``: ``fit_patches``, ``fit_mha``, ``fit_sdpa``).

* A node's **input is strided** when it is a ``Permute`` (or ``Flatten``/``Unflatten`` of one:
  the permuted order survives a view): LayerNorm copies it contiguous in its forward and again
  in its backward (``X.expect_contiguous()`` in ``aten/src/ATen/native/layer_norm.cpp``).
* A node's **output gradient is strided** when a reader of its output is a ``Permute`` (through
  views), whose backward permutes the gradient back, or a ``MultiheadAttention`` (batch first:
  PyTorch transposes its input to (L, b, E), so the input's gradient comes back transposed):
  a convolution's or LayerNorm's backward copies it contiguous.
"""

from __future__ import annotations

from symcnn import layers

#: Layers whose output is a view that keeps its input's memory order.
VIEWS = (layers.Flatten, layers.Unflatten)


def strided_input(row, by_name: dict) -> bool:
    """Whether ``row``'s first input is a permuted (non-contiguous) view."""
    name = row.inputs[0]
    while name in by_name:
        layer = by_name[name].layer
        if isinstance(layer, layers.Permute):
            return True
        if not isinstance(layer, VIEWS):
            return False
        name = by_name[name].inputs[0]
    return False


def strided_gradient(row, readers: dict, by_index: dict) -> bool:
    """Whether the gradient of ``row``'s output reaches its backward as a strided view."""
    for i in readers.get(row.name, ()):
        reader = by_index[i]
        if isinstance(reader.layer, (layers.Permute, layers.MultiheadAttention)):
            return True
        if isinstance(reader.layer, VIEWS) and strided_gradient(reader, readers, by_index):
            return True
    return False


def layouts(analysis) -> dict[str, tuple[bool, bool]]:
    """``{node: (strided input, strided output gradient)}`` for the nodes where either holds."""
    rows = analysis.rows
    by_name = {r.name: r for r in rows}
    by_index = {r.index: r for r in rows}
    readers = analysis.liveness.readers
    out = {}
    for r in rows:
        flags = (bool(r.inputs) and r.layer.reads_inputs and strided_input(r, by_name),
                 strided_gradient(r, readers, by_index))
        if any(flags):
            out[r.name] = flags
    return out


#: The permutation that makes a contiguous (b, H, W, C) tensor a channels-last (b, C, H, W) view.
TO_CHANNELS_LAST = (0, 3, 1, 2)


def channels_last_input(row, by_name: dict) -> bool:
    """Whether ``row``'s first input is ``x.permute(0, 3, 1, 2)`` of a contiguous 4-d ``x``
    (not itself a permuted view): a channels-last tensor, which PyTorch's convolutions keep
    channels-last (``mkldnn_conv_use_channels_last``) rather than copying it."""
    source = by_name.get(row.inputs[0]) if row.inputs else None
    if source is None or not isinstance(source.layer, layers.Permute):
        return False
    dims = tuple(d % len(source.layer.dims) for d in source.layer.dims)
    return dims == TO_CHANNELS_LAST and not strided_input(source, by_name)


def channels_last_inputs(analysis) -> frozenset[str]:
    """The nodes whose input is a channels-last view (:func:`channels_last_input`)."""
    by_name = {r.name: r for r in analysis.rows}
    return frozenset(r.name for r in analysis.rows
                     if r.layer.reads_inputs and channels_last_input(r, by_name))
