"""A PyTorch model as a spec: ``symcnn import MODULE:CALLABLE --input-shape 3,224,224``.

The model is traced with ``torch.fx`` and run once on the meta device (no memory for
weights or activations) on a batch of two.  Every ``torch.nn`` module it calls becomes a
layer named by the module's qualified name (``layer1.0.conv1``) with the arguments that
differ from the defaults; ``x + y``, ``torch.cat``, ``F.relu``, ``x.flatten(1)``,
``x.view(x.size(0), -1)`` ... become ``Add``, ``Concat``, ``ReLU``, ``Flatten``
(:mod:`symcnn.importers.torchmap` holds the tables).  A layer that does not read the layer before it
lists its ``inputs``.  Where fx cannot trace the model (control flow on tensor values),
forward hooks on its modules record the calls instead, which works for a plain chain of
modules.  Before the spec is returned it is parsed and analysed, and its parameter count
and every layer's output shape are compared with PyTorch's.

torch is imported only here, and only when a model is imported.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

from symcnn.errors import SymcnnError, shorten
from symcnn.importers import fx_walk
from symcnn.importers.spec_text import (
    TracedLayer,
    build_layer,
    parse_symbolic,
    symbolize,
    write_toml,
)
from symcnn.network import INPUT

#: Batch size of the traced run: two, so that an operation mixing up the batch axis shows.
BATCH = 2
#: The largest size of a tensor's axis PyTorch takes (an int64).
TORCH_MAX_SIZE = 2**63 - 1
TORCH_MISSING = 'install the torch extra: pip install "symcnn[torch]"'


def _torch():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch
    except ImportError:
        raise SymcnnError(TORCH_MISSING) from None
    return torch


def _oneline(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


# --------------------------------------------------------------------------- options


def parse_shape(value) -> tuple[int, ...]:
    """The input shape, channels first and without the batch axis.

    >>> parse_shape("3, 224,224"), parse_shape([1, 28, 28])
    ((3, 224, 224), (1, 28, 28))
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        shape = tuple(int(v) if isinstance(v, int) and not isinstance(v, bool) else int(v.strip())
                      for v in items)
    except (ValueError, AttributeError, TypeError):
        shape = ()
    if not shape or min(shape) < 1:
        raise SymcnnError(f"{value!r}: expected positive whole numbers, channels first and no "
                          "batch axis, e.g. 3,224,224", argument="input_shape")
    if max(shape) > TORCH_MAX_SIZE:  # torch.empty failed "to unpack the object" in the trace
        raise SymcnnError(f"{shorten(str(value))!r}: a size of more than 2^63 - 1, PyTorch's "
                          "largest", argument="input_shape")
    return shape


def load_callable(ref: str):
    """``"MODULE:CALLABLE"`` (``mymodels:resnet18``, ``nets:Model.tiny``), imported with the
    current directory on ``sys.path``."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise SymcnnError(f"{ref!r}: write MODULE:CALLABLE, e.g. mymodels:resnet18")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj = importlib.import_module(module_name)
    except SystemExit as err:
        raise SymcnnError(f"module {module_name!r} called sys.exit({err.code!r}) while being "
                          "imported") from None
    except Exception as err:
        raise SymcnnError(f"cannot import module {module_name!r}: {_oneline(err)}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SymcnnError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _instantiate(obj, torch):
    if isinstance(obj, torch.nn.Module):
        return obj
    label = getattr(obj, "__name__", type(obj).__name__)
    if not callable(obj):
        raise SymcnnError(f"{label} is neither a torch.nn.Module nor a callable returning one")
    try:
        model = obj()
    except SystemExit as err:
        raise SymcnnError(f"calling {label}() called sys.exit({err.code!r})") from None
    except Exception as err:
        raise SymcnnError(f"calling {label}() failed: {_oneline(err)}") from None
    if not isinstance(model, torch.nn.Module):
        raise SymcnnError(f"{label}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


# --------------------------------------------------------------------------- tracing


class _Graph:
    """The layers found so far, and which layer made each tensor of the run (the latest
    one: an in-place layer takes over its input).  A module's own parameter that its forward
    uses directly (``get_attr``) becomes a ``Parameter`` layer where a layer first reads it
    as a tensor, or counts as the parameters of the function that takes it as its weight
    (``F.layer_norm``)."""

    def __init__(self, x, torch, torchmap):
        self.nodes: list[TracedLayer] = []
        self.producer = {id(x): INPUT}
        self.keep = [x]             # keeps ids unique while the run's tensors are looked up
        self.taken = {INPUT}
        self.called: set[str] = set()
        self.torch, self.map = torch, torchmap
        self.input_shape = tuple(x.shape[1:])
        self.params: dict[int, str] = {}           # a parameter's tensor -> its name
        self.learned: dict[int, tuple] = {}        # a learned tensor -> its per-sample shape
        self.counted: set[str] = set()             # parameters counted by a layer of the spec

    def counts(self, parameter: str) -> bool:
        """Whether a layer of the spec counts the parameter of this name (its module, or a
        module above it, was called; or it is a Parameter layer, or a function's weight)."""
        parts = parameter.split(".")
        return parameter in self.counted or any(".".join(parts[:i]) in self.called
                                                for i in range(1, len(parts)))

    def sample_shape(self, tensor) -> tuple[int, ...]:
        """The shape without the batch axis (a learned tensor's: without its leading 1)."""
        return self.learned.get(id(tensor), tuple(tensor.shape[1:]))

    def source(self, tensor, what: str) -> str:
        name = self.producer.get(id(tensor))
        if name is None and id(tensor) in self.params:
            name = self.parameter(tensor)
        if name is None:
            raise SymcnnError(f"cannot map {what}: it reads a tensor that no layer made "
                              "(a buffer or a constant)")
        return name

    def parameter(self, tensor) -> str:
        """A Parameter layer for a parameter the forward uses directly, placed after the
        layers so far (it reads none of them)."""
        target = self.params[id(tensor)]
        shape = tuple(tensor.shape)
        shape = shape[1:] if len(shape) > 1 and shape[0] == 1 else shape
        previous = self.nodes[-1] if self.nodes else None
        name = self._name(target)
        self.nodes.append(TracedLayer(name, "Parameter", {"shape": list(shape)},
                                      (previous.name if previous else INPUT,), shape,
                                      previous.shape if previous else self.input_shape))
        self.producer[id(tensor)] = name
        self.learned[id(tensor)] = shape
        self.counted.add(target)
        return name

    def alias(self, tensor, of) -> None:
        """``tensor`` is ``of`` (an expand over the batch of a learned tensor)."""
        self.producer[id(tensor)] = self.source(of, "")
        self.learned[id(tensor)] = self.learned[id(of)]
        self.keep.append(tensor)

    def _name(self, base: str) -> str:
        name, k = base, 0
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def add(self, base: str, kind: str, args: dict, ins: list, out, what: str,
            params: int | None = None) -> None:
        tensor = self.torch.Tensor
        if not isinstance(out, tensor):
            raise SymcnnError(f"cannot map {what}: it returns {type(out).__name__}, not a tensor")
        if any(t.dim() == 0 or t.shape[0] != BATCH for t in (*ins, out)
               if id(t) not in self.learned and id(t) not in self.params):
            raise SymcnnError(f"cannot map {what}: it does not keep the batch axis first")
        inputs = tuple(self.source(t, what) for t in ins)
        in_shape = self.sample_shape(ins[0])
        if params is not None and build_layer(kind, args).params(in_shape) != params:
            raise SymcnnError(f"cannot map {what}: symcnn would count "
                              f"{build_layer(kind, args).params(in_shape)} parameters, PyTorch {params}")
        name = self._name(base)
        self.nodes.append(TracedLayer(name, kind, args, inputs, self.sample_shape(out), in_shape))
        self.producer[id(out)] = name
        self.keep.append(out)

    def module(self, path: str, module, ins: list, out) -> None:
        what = f"module {path!r} of type {type(module).__name__}"
        kind, args = self.map.module_layer(module, what)
        params = sum(p.numel() for p in module.parameters())
        if path in self.called and params:
            raise SymcnnError(f"cannot map {what}: it is called more than once, and layers of a "
                              "spec do not share parameters")
        self.called.add(path)
        if len(ins) != 1 or not isinstance(ins[0], self.torch.Tensor):
            raise SymcnnError(f"cannot map {what}: it takes {len(ins)} inputs, not one tensor")
        self.add(path, kind, args, ins, out, what, params)

    def attention(self, path: str, module, args: tuple, kwargs: dict, out) -> None:
        """``nn.MultiheadAttention`` called as ``attn(x, x, x, need_weights=...)``: its output
        is the first of the pair it returns."""
        what = f"module {path!r} of type {type(module).__name__}"
        kind, layer_args = self.map.module_layer(module, what)
        need = self.map.attention_call(args, kwargs, what)
        layer_args = self.map.finish(kind, {**layer_args, "need_weights": need}, what)
        if path in self.called:
            raise SymcnnError(f"cannot map {what}: it is called more than once, and layers of a "
                              "spec do not share parameters")
        self.called.add(path)
        first = out[0] if isinstance(out, (tuple, list)) else out
        self.add(path, kind, layer_args, [args[0]], first, what,
                 sum(p.numel() for p in module.parameters()))

    def output(self, out) -> None:
        if not isinstance(out, self.torch.Tensor):
            raise SymcnnError(f"the model returns {type(out).__name__}; symcnn imports a model "
                              "with one output tensor")
        name = self.producer.get(id(out))
        if name is None or name == INPUT or not self.nodes:
            raise SymcnnError("the model's output is made by no layer: nothing to import")
        if name != self.nodes[-1].name:
            raise SymcnnError(f"the model's output comes from {name!r}, not from its last layer "
                              f"{self.nodes[-1].name!r}; a spec's output is its last layer")


def _on_meta(module, call, x, torch):
    """``call()`` with ``module``'s parameters and buffers swapped for meta tensors."""
    state = {f"m.{k}": torch.empty_like(v, device="meta")
             for k, v in [*module.named_parameters(), *module.named_buffers()]}

    class Call(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = module

        def forward(self):
            return call()

    try:
        return torch.func.functional_call(Call(), state, ())
    except SymcnnError:
        raise
    except SystemExit as err:
        raise SymcnnError(f"the model's forward called sys.exit({err.code!r})") from None
    except Exception as err:
        shape = " x ".join(map(str, x.shape[1:]))
        raise SymcnnError(f"the model fails on a {shape} input (batch {BATCH}, on the meta "
                          f"device): {_oneline(err)}") from None


def _tensors(value, torch) -> list:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v, torch)]
    return []


def _function_names(node) -> tuple[str, str]:
    """(base name of the layer, what it is in errors) for a call_function/call_method node."""
    target = node.target
    if isinstance(target, str):
        op, qual = target, f"Tensor.{target}"
    else:
        op = getattr(target, "__name__", node.name)
        module = getattr(target, "__module__", None) or ""
        module = {"_operator": "operator", "torch._C._nn": "torch.nn.functional",
                  "torch._C._VariableFunctions": "torch"}.get(module, module)
        qual = f"{module}.{op}" if module else op
    stack = list((node.meta.get("nn_module_stack") or {}).values())
    path, owner = stack[-1] if stack and isinstance(stack[-1], tuple) else ("", None)
    where = f"in module {path!r} of type {getattr(owner, '__name__', owner)}" if path \
        else "in the model's forward"
    return (f"{path}.{op}" if path else op), f"function {qual} {where}"


def _from_fx(gm, x, torch, torchmap, model) -> _Graph:
    nodes = list(gm.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder" and not n.args]
    if len(inputs) != 1:
        raise SymcnnError(f"forward takes {len(inputs)} tensors; symcnn imports a model with one "
                          "input")
    for n in nodes:  # an unmappable module is named before the run can trip over it
        if n.op == "call_module":
            module = gm.get_submodule(n.target)
            torchmap.module_layer(module, f"module {n.target!r} of type {type(module).__name__}")
    values = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            values[n] = result = super().run_node(n)
            return result

    _on_meta(gm, lambda: Recorder(gm, garbage_collect_values=False).run(x), x, torch)
    graph = _Graph(x, torch, torchmap)
    graph.producer = {id(values[inputs[0]]): INPUT}
    fx_walk.walk(gm, model, nodes, values, graph, torch, torchmap, _function_names,
                 lambda value: _tensors(value, torch))
    return graph


def _from_hooks(model, x, torch, torchmap, reason: str) -> _Graph:
    """The calls of the model's leaf modules, for a model fx cannot trace: only a chain."""
    tracer, leaves = torch.fx.Tracer(), []

    def walk(module, prefix):
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            (leaves.append((path, child)) if tracer.is_leaf_module(child, path)
             else walk(child, path))

    walk(model, "")
    calls = []
    handles = [m.register_forward_hook(lambda mod, i, o, path=path: calls.append((path, mod, i, o)))
               for path, m in leaves]
    fail = f"cannot trace the model with torch.fx ({reason})"
    try:
        result = _on_meta(model, lambda: model(x), x, torch)
    except SymcnnError as err:
        raise SymcnnError(f"{fail}, and {err}") from None
    finally:
        for h in handles:
            h.remove()
    graph, previous = _Graph(x, torch, torchmap), x
    fail += ", and it is not a plain chain of modules"

    def follow(t, path):  # t must be `previous`, or a flattening view of it
        if t is previous:
            return
        base = previous._base if previous._base is not None else previous
        what = f"the view before {path!r}" if path else "the view at the end"
        if isinstance(t, torch.Tensor) and t._base is base:
            kind, args = torchmap._reshape(previous, t, what)
            graph.add("flatten", kind, args, [previous], t, what)
        else:
            after = repr(graph.nodes[-1].name) if graph.nodes else "the input"
            raise SymcnnError(f"{fail}: {path or 'the output'!r} does not read the output of {after}")

    for path, module, ins, out in calls:
        torchmap.module_layer(module, f"module {path!r} of type {type(module).__name__}")
        if len(ins) == 1:
            follow(ins[0], path)
        graph.module(path, module, list(ins), out)
        previous = out
    if isinstance(result, torch.Tensor):
        follow(result, "")
    graph.output(result)
    return graph


def _trace(model, x, torch, torchmap) -> _Graph:
    try:
        gm = torch.fx.symbolic_trace(model)
    except SystemExit as err:
        raise SymcnnError(f"tracing the model called sys.exit({err.code!r})") from None
    except Exception as err:
        return _from_hooks(model, x, torch, torchmap, _oneline(err))
    return _from_fx(gm, x, torch, torchmap, model)


# --------------------------------------------------------------------------- symbols


def _check(text: str, subs: dict, nodes: list[TracedLayer], expected: int) -> None:
    """The spec parses, and counts and shapes what PyTorch does once symbols are put back."""
    from symcnn.analysis.rows import analyze
    from symcnn.spec.parse import parse_spec
    from symcnn.symbols import size

    try:
        network = parse_spec(text, "<imported spec>").network
        analysis = analyze(network)
        if subs:
            analysis = analyze(network.subs({size(k): v for k, v in subs.items()}))
    except SymcnnError as err:
        raise SymcnnError(f"the imported spec does not check out: {err}") from None
    if analysis.total_params != expected:
        raise SymcnnError(f"the imported spec counts {analysis.total_params} parameters, "
                          f"PyTorch {expected}")
    for row, node in zip(analysis.rows, nodes):
        if tuple(row.output_shape) != node.shape:
            raise SymcnnError(f"the imported spec gives {row.name!r} the shape "
                              f"{tuple(row.output_shape)}, PyTorch {node.shape}")


def import_module(obj, input_shape, symbolic=None, *, name: str | None = None) -> str:
    """The spec (TOML text) of a PyTorch model.

    ``obj`` is an ``nn.Module``, or a class or function that returns one when called
    without arguments; ``input_shape`` is channels first without the batch axis
    (``(3, 224, 224)`` or ``"3,224,224"``).  ``symbolic`` writes sizes as symbols:
    ``{"channels": "C"}`` writes every convolution's ``out_channels`` that is a multiple of
    the first convolution's as ``k*C``, and a depthwise convolution's ``groups`` as its
    input channels; ``{"input": "H,W"}`` (one name per
    spatial axis, or one for all) makes the input's spatial sizes symbols.  Every error is
    a one-line :class:`~symcnn.errors.SymcnnError`.
    """
    torch = _torch()
    from symcnn.importers import torchmap

    shape = parse_shape(input_shape)
    options = parse_symbolic(symbolic)
    label = name or getattr(obj, "__name__", None) or type(obj).__name__
    model = _instantiate(obj, torch)
    kind = type(model).__name__
    if torch.fx.Tracer().is_leaf_module(model, ""):
        model = torch.nn.Sequential(model)  # a bare layer: fx would trace into its forward
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    dtype_name = str(dtype).removeprefix("torch.")
    if dtype_name not in ("float32", "float16", "bfloat16", "float64"):
        dtype, dtype_name = torch.float32, "float32"
    x = torch.empty((BATCH, *shape), device="meta", dtype=dtype)
    modes = {m: m.training for m in model.modules()}
    try:  # in eval mode: the inference graph, and BatchNorm reads no counter on the meta device
        model.eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = _trace(model, x, torch, torchmap)
    finally:
        for m, mode in modes.items():
            m.training = mode
    written, subs, notes = symbolize(graph.nodes, shape, options)
    total = sum(p.numel() for p in model.parameters())
    unused = {n: p.numel() for n, p in model.named_parameters() if not graph.counts(n)}
    counted = total - sum(unused.values())
    comments = [f"Imported from PyTorch by `symcnn import`: {kind} on a "
                f"{' x '.join(map(str, shape))} input (torch {torch.__version__})."]
    if unused:
        owners = sorted({n.rpartition(".")[0] for n in unused})
        comments.append(f"PyTorch counts {total:,} parameters, this spec {counted:,}: modules "
                        f"never called in forward hold the rest ({', '.join(owners)}).")
    else:
        comments.append(f"PyTorch counts {total:,} parameters, and so does this spec.")
    text = write_toml(label, f"{kind}, imported from PyTorch", comments + notes,
                      written, dtype_name, graph.nodes)
    _check(text, subs, graph.nodes, counted)
    return text


def import_ref(ref: str, input_shape, symbolic=None) -> str:
    """:func:`import_module` of ``"MODULE:CALLABLE"`` (what ``symcnn import`` runs)."""
    _torch()
    parse_shape(input_shape)
    parse_symbolic(symbolic)
    obj = load_callable(ref)
    return import_module(obj, input_shape, symbolic, name=ref.partition(":")[2].split(".")[-1])
