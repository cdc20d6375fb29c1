"""The nodes of a traced ``torch.fx`` graph, one by one, as layers of
:class:`symcnn.importers.torch_fx._Graph` (after a run on the meta device has given every node
its value).  Besides modules and the functions of :mod:`symcnn.importers.torchmap`:

* a module's own parameter used directly (``get_attr``: a layer scale, a class token) becomes a
  ``Parameter`` layer where a layer reads it, or the parameters of the function that takes it
  as its weight (``F.layer_norm(x, shape, self.weight, self.bias)``); a buffer or a constant
  tensor is refused;
* ``x.chunk(k, dim)`` / ``x.split(...)`` followed by ``[i]`` is a ``Narrow``; ``x[:, 0]`` a
  ``Select``, ``x[:, a:b]`` a ``Narrow``;
* ``x.contiguous()`` of a tensor that is not is a ``Contiguous`` copy; a learned tensor's
  ``expand`` over the batch is that tensor;
* ``nn.MultiheadAttention`` called as ``attn(x, x, x)`` returns a pair: its first item is the
  layer's output.
"""

from __future__ import annotations

import operator

from symcnn.errors import SymcnnError

SPLITS = ("Tensor.chunk", "Tensor.split", "Tensor.tensor_split")


def walk(gm, model, nodes, values, graph, torch, torchmap, names, tensors) -> None:
    """Every node of ``nodes`` (of ``gm``, the trace of ``model``) into ``graph``;
    ``names(node)`` gives (base name, what it is in errors), ``tensors(value)`` the tensors in a
    value."""
    params = dict(gm.named_parameters())
    splits: dict = {}                  # fx node of a chunk/split -> (its input, dim, pieces)
    value_of = lambda a: torch.fx.node.map_arg(a, values.__getitem__)  # noqa: E731
    for n in nodes:
        v = values[n]
        if n.op == "get_attr" and tensors(v):
            if n.target not in params:
                owner, _, attr = n.target.rpartition(".")
                kind = type(model.get_submodule(owner)).__name__
                what = f"module {owner!r} of type {kind}" if owner else kind
                raise SymcnnError(f"cannot map {what}: it uses its own {attr!r} directly, a "
                                  "buffer or a constant (not a parameter)")
            graph.params[id(v)] = n.target
            graph.keep.append(v)
        elif n.op == "call_module":
            module = gm.get_submodule(n.target)
            args, kwargs = value_of(n.args), value_of(n.kwargs)
            if type(module) is torch.nn.MultiheadAttention:
                graph.attention(n.target, module, args, kwargs, v)
            else:
                graph.module(n.target, module, list(value_of((*n.args, *n.kwargs.values()))), v)
        elif n.op in ("call_function", "call_method"):
            _function(n, v, value_of, graph, torch, torchmap, names, tensors, splits)
        elif n.op == "output":
            graph.output(value_of(n.args[0]))


def _function(n, v, value_of, graph, torch, torchmap, names, tensors, splits) -> None:
    base, what = names(n)
    key = f"Tensor.{n.target}" if n.op == "call_method" else n.target
    args, kwargs = value_of(n.args), value_of(n.kwargs)
    if key in SPLITS or key in (torch.chunk, torch.split, torch.tensor_split):
        _split(n, v, args, what, torch, splits)
        return
    if key is operator.getitem:
        _getitem(n, v, args, base, what, graph, torch, torchmap, splits)
        return
    if not isinstance(v, torch.Tensor):
        if tensors(v):
            raise SymcnnError(f"cannot map {what}")
        return  # sizes: x.size(0), x.shape[2:] ...
    ins = tensors((args, kwargs))
    learned = [t for t in ins if id(t) in graph.params or id(t) in graph.learned]
    if key == "Tensor.expand" and len(ins) == 1 and learned \
            and tuple(v.shape[1:]) == tuple(ins[0].shape[1:]):
        graph.alias(v, ins[0])                     # a class token expanded over the batch
        return
    if key == "Tensor.contiguous":
        if v is not ins[0]:
            graph.add(base, "Contiguous", {}, ins, v, what)
        return
    if len(ins) == 1 and v is ins[0] and not torchmap.known(key):
        return  # in place on its one input (x.mul_(2), x.contiguous()): counts nothing
    steps = torchmap.function_layer(key, args, kwargs, v, what)
    step_ins = [t for _, _, i in steps if i for t in i]
    weights = [t for t in learned if all(t is not u for u in step_ins)]
    count = None
    if weights:                                   # F.layer_norm's weight and bias
        graph.counted.update(graph.params[id(t)] for t in weights if id(t) in graph.params)
        count = sum(t.numel() for t in weights)
    previous = None
    for i, (kind, layer_args, step_in) in enumerate(steps):
        out = v if i == len(steps) - 1 else step_in[0].contiguous()
        graph.add(base, kind, layer_args, step_in if step_in is not None else [previous], out,
                  what, count if i == len(steps) - 1 else None)
        previous = out


def _split(n, v, args, what: str, torch, splits: dict) -> None:
    """Remember the pieces of ``x.chunk(k, dim)`` / ``x.split(...)``: each ``[i]`` of it is
    a Narrow of ``x``."""
    x = args[0]
    if not isinstance(x, torch.Tensor) or not isinstance(v, (tuple, list)):
        raise SymcnnError(f"cannot map {what}")
    dim = n.kwargs.get("dim", args[2] if len(args) > 2 else 0)
    if not isinstance(dim, int) or dim % x.dim() == 0:
        raise SymcnnError(f"cannot map {what}: it splits the batch axis")
    dim %= x.dim()
    pieces, start = [], 0
    for piece in v:
        pieces.append((start, piece.shape[dim]))
        start += piece.shape[dim]
    splits[n] = (x, dim, pieces)


def _getitem(n, v, args, base, what, graph, torch, torchmap, splits) -> None:
    holder, index = n.args[0], args[1]
    if holder in splits:                          # x.chunk(2, 1)[0]
        x, dim, pieces = splits[holder]
        start, length = pieces[index]
        graph.add(base, "Narrow", torchmap.finish(
            "Narrow", {"dim": dim, "start": start, "length": length}, what), [x], v, what)
    elif isinstance(args[0], torch.Tensor):       # x[:, 0]
        kind, layer_args = torchmap.slice_layer(index, args[0], what)
        graph.add(base, kind, layer_args, [args[0]], v, what)
    # else: an item that a layer made already (attention's output), sizes, or an item no
    # layer makes (attention's weights), refused where a layer reads it
