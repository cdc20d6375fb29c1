"""symcnn against PyTorch itself, for every layer type in ``symcnn.layers.LAYER_TYPES``.

Each test draws layer configurations and input shapes with hypothesis, builds the layer
once in symcnn and once as the ``torch.nn`` module of the same name (with ``in_channels``,
``in_features``, ``num_features`` or ``num_channels`` filled in), runs the module on a meta
tensor (and, when small, on real CPU tensors too, whose kernels check more) and compares the
output shape (without the batch axis), the parameter count, the buffer elements and
``params_derivation(...).value``.  A quarter of the time symcnn is given the inferred
argument too, which it must accept.

Where PyTorch refuses a configuration, symcnn must refuse it too with a ``SymcnnError``
(in particular when an output size would be zero or negative); the only refusals skipped
are the ones symcnn does not model (reflect/circular padding wider than the input).

``SYMCNN_TORCH_EXAMPLES=500 pytest tests/test_torch_layers.py`` runs more, random examples;
by default each test runs 40 derandomized ones.
"""

from __future__ import annotations

import inspect
import math
import os
import warnings

import pytest

torch = pytest.importorskip("torch")

import sympy  # noqa: E402
from hypothesis import HealthCheck, assume, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.control import currently_in_test_context  # noqa: E402

import symcnn  # noqa: E402
from symcnn import SymcnnError  # noqa: E402
from symcnn.layers import LAYER_TYPES  # noqa: E402

EXAMPLES = int(os.environ.get("SYMCNN_TORCH_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    derandomize="SYMCNN_TORCH_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
BATCH = 2

#: PyTorch's messages for "an output size would be below 1" (the kernel does not fit).
SIZE_ERRORS = ("Output size is too small", "Kernel size can't be greater than actual input size",
               "Invalid computed output size", "smaller than kernel size",
               "sizes should be greater than 0", "negative dimension", "has a zero size")
#: Refusals symcnn does not model: reflect/circular padding needs an input wider than it.
UNMODELLED = ("Padding size should be less than", "wrapping around more than once")
TORCH_ERRORS = (RuntimeError, ValueError, TypeError, NotImplementedError, IndexError,
                ZeroDivisionError)
#: Inputs and outputs up to this many elements also run on the CPU, whose kernels check
#: some arguments the meta kernels let through (ConvTranspose's output_padding).
CPU_LIMIT = 200_000


# --------------------------------------------------------------------------- running both


def run_torch(name: str, kwargs: dict, inferred: dict, shape: tuple[int, ...]):
    """(output shape, parameters, buffer elements) of ``torch.nn.<name>``, or its exception.

    A zero-sized output, which some PyTorch kernels return instead of raising, counts as a
    refusal: symcnn refuses every output size below 1.
    """
    cls = getattr(torch.nn, name)
    kw = {**kwargs, **inferred}

    def run(device: str):
        if "device" in inspect.signature(cls).parameters:
            module = cls(**kw, device=device)
        else:
            module = cls(**kw).to(device)
        x = (torch.empty if device == "meta" else torch.zeros)((BATCH, *shape), device=device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = module(x)
        assert out.shape[0] == BATCH
        if 0 in out.shape:
            raise RuntimeError(f"output {tuple(out.shape)} has a zero size")
        return (tuple(out.shape[1:]), sum(p.numel() for p in module.parameters()),
                sum(b.numel() for b in module.buffers()))

    try:
        result = run("meta")
    except TORCH_ERRORS as err:
        # Some meta kernels fail where real ones work (BatchNorm with momentum=None calls
        # .item()); small real CPU tensors decide.  If both refuse, the meta message is kept.
        if math.prod(shape) >= CPU_LIMIT:
            return err
        try:
            return run("cpu")
        except TORCH_ERRORS:
            return err
    if math.prod(shape) < CPU_LIMIT and math.prod(result[0]) < CPU_LIMIT:
        try:
            cpu = run("cpu")
        except TORCH_ERRORS as err:
            return err
        assert cpu == result, f"{name}: meta gives {result}, CPU {cpu}"
    return result


def run_symcnn(name: str, kwargs: dict, shape: tuple[int, ...]):
    """(output shape, parameters, buffer elements) as symcnn derives them, or its SymcnnError."""
    try:
        layer = LAYER_TYPES[name](**kwargs)
        in_shape = tuple(sympy.Integer(v) for v in shape)
        out = layer.output_shape(in_shape)
        params, buffers = layer.params(in_shape), layer.buffers(in_shape)
        derivation = layer.params_derivation(in_shape)
    except SymcnnError as err:
        return err
    assert all(isinstance(v, sympy.Integer) for v in out), out
    assert isinstance(params, sympy.Integer) and isinstance(buffers, sympy.Integer)
    if derivation is not None:
        assert derivation.value == params, derivation.text
    return tuple(int(v) for v in out), int(params), int(buffers)


def is_size_error(err: Exception) -> bool:
    return any(s in str(err) for s in SIZE_ERRORS)


def note(what: str) -> None:
    """Count outcomes for ``pytest --hypothesis-show-statistics``."""
    if currently_in_test_context():
        event(what)


def compare(name: str, kwargs: dict, shape: tuple[int, ...], inferred: dict | None = None):
    """symcnn and PyTorch agree on ``name(**kwargs)`` applied to ``shape`` (no batch axis)."""
    mine = run_symcnn(name, kwargs, shape)
    theirs = run_torch(name, kwargs, inferred or {}, shape)
    what = f"{name}({kwargs}) on {shape}"
    if isinstance(theirs, Exception):
        message = str(theirs).splitlines()[0]
        if isinstance(mine, SymcnnError):
            note("both refuse" + (" (output size)" if is_size_error(theirs) else ""))
            return None
        if any(s in message for s in UNMODELLED):
            assume(False)
        pytest.fail(f"{what}: PyTorch refuses it ({type(theirs).__name__}: {message}), "
                    f"symcnn gives {mine}")
    if isinstance(mine, SymcnnError):
        pytest.fail(f"{what}: PyTorch gives {theirs}, symcnn refuses it: {mine}")
    note("compared")
    assert mine == theirs, f"{what}: (shape, params, buffers) symcnn {mine} != PyTorch {theirs}"
    return mine


# --------------------------------------------------------------------------- strategies


@st.composite
def collapse(draw, values: tuple[int, ...]):
    """One value per axis, written as a bare int when they are equal (half the time)."""
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return tuple(values)


@st.composite
def axes(draw, n: int, elements):
    """Values for ``n`` axes, drawn from ``elements``: an int, or a tuple of them."""
    if draw(st.booleans()):
        return draw(elements)
    return tuple(draw(elements) for _ in range(n))


def expand(value, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,) * n


def drop_defaults(draw, kwargs: dict, defaults: dict) -> dict:
    """Leave out, at random, arguments that equal their default (defaults must agree too)."""
    return {k: v for k, v in kwargs.items()
            if not (k in defaults and defaults[k] == v and draw(st.booleans()))}


def declare(draw, kwargs: dict, inferred: dict) -> dict:
    """A quarter of the time, also give symcnn ``in_channels`` etc. (it checks them)."""
    return {**kwargs, **inferred} if not draw(st.integers(0, 3)) else kwargs


def spatial(n: int, low: int = 1, high: int = 9):
    return st.tuples(*[st.integers(low, high)] * n)


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


@st.composite
def conv_cases(draw):
    n = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    padding = draw(st.one_of(axes(n, st.integers(0, 3)), st.sampled_from(["same", "valid"])))
    stride = draw(axes(n, st.integers(1, 3)))
    if padding == "same" and draw(st.integers(0, 5)):
        stride = 1  # PyTorch (and symcnn) refuse 'same' with a stride; test that rarely
    kwargs = dict(out_channels=c_out, kernel_size=draw(axes(n, st.integers(1, 4))),
                  stride=stride, padding=padding, dilation=draw(axes(n, st.integers(1, 3))),
                  groups=groups, bias=draw(st.booleans()),
                  padding_mode=draw(st.sampled_from(PADDING_MODES)))
    kwargs = drop_defaults(draw, kwargs, dict(stride=1, padding=0, dilation=1, groups=1,
                                              bias=True, padding_mode="zeros"))
    inferred = {"in_channels": c_in}
    return f"Conv{n}d", declare(draw, kwargs, inferred), \
        (c_in, *draw(spatial(n, 1, 10 if n < 3 else 7))), inferred


@st.composite
def conv_transpose_cases(draw):
    n = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    stride = draw(axes(n, st.integers(1, 3)))
    dilation = draw(axes(n, st.integers(1, 3)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1))
                           for s, d in zip(expand(stride, n), expand(dilation, n)))
    kwargs = dict(out_channels=c_out, kernel_size=draw(axes(n, st.integers(1, 4))),
                  stride=stride, padding=draw(axes(n, st.integers(0, 3))),
                  output_padding=draw(collapse(output_padding)), dilation=dilation,
                  groups=groups, bias=draw(st.booleans()))
    kwargs = drop_defaults(draw, kwargs, dict(stride=1, padding=0, output_padding=0, dilation=1,
                                              groups=1, bias=True))
    inferred = {"in_channels": c_in}
    return f"ConvTranspose{n}d", declare(draw, kwargs, inferred), \
        (c_in, *draw(spatial(n, 1, 6))), inferred


@st.composite
def pool_cases(draw):
    n = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["Max", "Avg"]))
    kernel = draw(axes(n, st.integers(1, 4)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in expand(kernel, n))
    kwargs = dict(kernel_size=kernel, stride=draw(st.one_of(st.none(), axes(n, st.integers(1, 3)))),
                  padding=draw(collapse(padding)), ceil_mode=draw(st.booleans()))
    if kind == "Max":
        kwargs["dilation"] = draw(axes(n, st.integers(1, 3)))
        defaults = dict(dilation=1)
    else:
        kwargs["count_include_pad"] = draw(st.booleans())
        if n > 1 and draw(st.booleans()):
            kwargs["divisor_override"] = draw(st.integers(1, 4))
        defaults = dict(count_include_pad=True)
    kwargs = drop_defaults(draw, kwargs, dict(stride=None, padding=0, ceil_mode=False, **defaults))
    return f"{kind}Pool{n}d", kwargs, (draw(st.integers(1, 3)), *draw(spatial(n, 1, 9))), {}


@st.composite
def adaptive_pool_cases(draw):
    n = draw(st.integers(1, 3))
    size = st.integers(1, 5)
    if draw(st.booleans()):
        output_size = draw(size)
    else:
        # None keeps an axis (2-D and 3-D only, as in PyTorch; 1-D is refused by both)
        entry = st.one_of(size, st.none()) if n > 1 or not draw(st.integers(0, 9)) else size
        output_size = tuple(draw(entry) for _ in range(n))
    name = f"Adaptive{draw(st.sampled_from(['Avg', 'Max']))}Pool{n}d"
    shape = (draw(st.integers(1, 3)), *draw(spatial(n, 1, 8)))
    return name, {"output_size": output_size}, shape, {}


@st.composite
def batchnorm_cases(draw):
    n = draw(st.integers(1, 3))
    c = draw(st.integers(1, 6))
    if n == 1:
        shape = (c,) if draw(st.booleans()) else (c, draw(st.integers(1, 6)))
    else:
        shape = (c, *draw(spatial(n, 1, 4)))
    kwargs = dict(affine=draw(st.booleans()), track_running_stats=draw(st.booleans()),
                  momentum=draw(st.sampled_from([0.1, None, 0.5])),
                  eps=draw(st.sampled_from([1e-5, 1e-3])))
    kwargs = drop_defaults(draw, kwargs, dict(affine=True, track_running_stats=True,
                                              momentum=0.1, eps=1e-5))
    inferred = {"num_features": c}
    return f"BatchNorm{n}d", declare(draw, kwargs, inferred), shape, inferred


@st.composite
def groupnorm_cases(draw):
    groups = draw(st.integers(1, 4))
    c = groups * draw(st.integers(1, 3))
    kwargs = drop_defaults(draw, dict(num_groups=groups, affine=draw(st.booleans())),
                           dict(affine=True))
    shape = (c, *draw(st.lists(st.integers(1, 5), max_size=3)))
    inferred = {"num_channels": c}
    return "GroupNorm", declare(draw, kwargs, inferred), shape, inferred


@st.composite
def layernorm_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    k = draw(st.integers(1, len(shape)))
    normalized = shape[-k:]
    if k == 1 and draw(st.booleans()):
        normalized = normalized[0]
    elif draw(st.booleans()):
        normalized = list(normalized)
    kwargs = dict(normalized_shape=normalized, elementwise_affine=draw(st.booleans()),
                  bias=draw(st.booleans()))
    return "LayerNorm", drop_defaults(draw, kwargs, dict(elementwise_affine=True, bias=True)), \
        shape, {}


ELEMENTWISE = ("ReLU", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax", "Dropout",
               "Dropout1d", "Dropout2d", "Dropout3d", "Identity", "ReLU6", "Hardtanh",
               "Hardswish", "Hardsigmoid", "ELU", "Mish", "Softplus", "PReLU")
INPLACE = ("ReLU", "LeakyReLU", "SiLU", "ReLU6", "Hardtanh", "Hardswish", "Hardsigmoid", "ELU",
           "Mish")


@st.composite
def elementwise_cases(draw):
    name = draw(st.sampled_from(ELEMENTWISE))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    kwargs = {}
    if name in INPLACE or name.startswith("Dropout"):
        kwargs["inplace"] = draw(st.booleans())
    if name == "Hardtanh":
        kwargs["min_val"], kwargs["max_val"] = draw(st.sampled_from([(-1.0, 1.0), (0.0, 6.0)]))
    if name == "ELU":
        kwargs["alpha"] = draw(st.sampled_from([1.0, 0.5]))
    if name == "PReLU":
        kwargs["num_parameters"] = draw(st.sampled_from([1, shape[0]]))
    if name == "LeakyReLU":
        kwargs["negative_slope"] = draw(st.sampled_from([0.01, 0.2]))
    if name == "GELU":
        kwargs["approximate"] = draw(st.sampled_from(["none", "tanh"]))
    if name.startswith("Dropout"):
        kwargs["p"] = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0]))
    if name == "Softmax":  # dim counts the batch axis (only the CPU kernel checks it)
        r = len(shape)
        kwargs["dim"] = draw(st.one_of(st.none(), st.integers(1, r), st.integers(-r, -1),
                                       st.sampled_from([0, -r - 1, r + 1, -r - 2])))
    return name, kwargs, shape, {}


@st.composite
def flatten_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    r = len(shape)  # axes 1..r with the batch axis 0, or -r..-1; never the batch axis
    dim = st.one_of(st.integers(1, r), st.integers(-r, -1))
    kwargs = drop_defaults(draw, dict(start_dim=draw(dim), end_dim=draw(dim)),
                           dict(start_dim=1, end_dim=-1))
    return "Flatten", kwargs, shape, {}


@st.composite
def linear_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=3)))
    kwargs = drop_defaults(draw, dict(out_features=draw(st.integers(1, 6)),
                                      bias=draw(st.booleans())), dict(bias=True))
    inferred = {"in_features": shape[-1]}
    return "Linear", declare(draw, kwargs, inferred), shape, inferred


INTERPOLATING = {1: ("linear",), 2: ("bilinear", "bicubic"), 3: ("trilinear",)}
#: Integer, dyadic and decimal factors; 1.15 and 0.7 are inexact in binary (100 * 1.15 is
#: 114.99999999999999 in double precision, so PyTorch gives 114).
SCALES = (2, 3, 0.5, 1.5, 2.5, 1.25, 0.3, 0.7, 1.1, 1.15)


@st.composite
def upsample_cases(draw):
    n = draw(st.integers(1, 3))
    modes = ("nearest", "nearest-exact", *INTERPOLATING[n])
    mode = draw(st.sampled_from(modes))
    if not draw(st.integers(0, 9)):  # rarely: a mode for other dimensions (both refuse)
        mode = draw(st.sampled_from([m for ms in INTERPOLATING.values() for m in ms]))
    kwargs = dict(mode=mode)
    if draw(st.booleans()):
        kwargs["size"] = draw(axes(n, st.integers(1, 8)))
        if not draw(st.integers(0, 9)):
            kwargs["recompute_scale_factor"] = True  # refused with a size (both refuse)
    else:
        kwargs["scale_factor"] = draw(axes(n, st.sampled_from(SCALES)))
        kwargs["recompute_scale_factor"] = draw(st.sampled_from([None, True, False]))
    if mode not in ("nearest", "nearest-exact"):
        kwargs["align_corners"] = draw(st.sampled_from([None, True, False]))
    kwargs = drop_defaults(draw, kwargs, dict(mode="nearest", align_corners=None,
                                              recompute_scale_factor=None))
    sizes = st.one_of(st.integers(1, 9), st.sampled_from([20, 100]))
    return "Upsample", kwargs, (draw(st.integers(1, 3)), *(draw(sizes) for _ in range(n))), {}


# --------------------------------------------------------------------------- the comparisons


@SETTINGS
@given(conv_cases())
def test_conv(case):
    compare(case[0], case[1], case[2], case[3])


@SETTINGS
@given(conv_transpose_cases())
def test_conv_transpose(case):
    compare(case[0], case[1], case[2], case[3])


@SETTINGS
@given(pool_cases())
def test_pool(case):
    compare(case[0], case[1], case[2], case[3])


@SETTINGS
@given(adaptive_pool_cases())
def test_adaptive_pool(case):
    compare(case[0], case[1], case[2], case[3])


@SETTINGS
@given(st.one_of(batchnorm_cases(), groupnorm_cases(), layernorm_cases()))
def test_norm(case):
    compare(case[0], case[1], case[2], case[3])


@SETTINGS
@given(elementwise_cases())
def test_elementwise(case):
    compare(case[0], case[1], case[2], case[3])


@SETTINGS
@given(flatten_cases())
def test_flatten(case):
    compare(case[0], case[1], case[2], case[3])


@SETTINGS
@given(linear_cases())
def test_linear(case):
    compare(case[0], case[1], case[2], case[3])


@SETTINGS
@given(upsample_cases())
def test_upsample(case):
    compare(case[0], case[1], case[2], case[3])


# --------------------------------------------------------------------------- refusals


@st.composite
def too_small_cases(draw):
    """A conv or pool whose (dilated) kernel is longer than its padded input on one axis."""
    n = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["Conv", "MaxPool", "AvgPool"]))
    kernel = list(draw(spatial(n, 1, 4)))
    dilation = list(draw(spatial(n, 1, 2))) if kind != "AvgPool" else [1] * n
    padding = [draw(st.integers(0, k // 2)) for k in kernel]
    sizes = list(draw(spatial(n, 1, 12)))
    axis = draw(st.integers(0, n - 1))
    kernel[axis] = draw(st.integers(3, 6))
    padding[axis] = draw(st.integers(0, 1))
    reach = dilation[axis] * (kernel[axis] - 1) + 1  # the kernel's extent
    assume(reach - 2 * padding[axis] > 1)
    sizes[axis] = draw(st.integers(1, reach - 2 * padding[axis] - 1))
    kwargs = dict(kernel_size=tuple(kernel), padding=tuple(padding))
    if kind != "AvgPool":
        kwargs["dilation"] = tuple(dilation)
    if kind == "Conv":
        kwargs["out_channels"] = 2
        return f"Conv{n}d", kwargs, (1, *sizes), {"in_channels": 1}
    return f"{kind}{n}d", kwargs, (1, *sizes), {}


@SETTINGS
@given(too_small_cases())
def test_kernel_longer_than_input_is_refused(case):
    """PyTorch refuses an input shorter than the kernel ('Output size is too small');
    so does symcnn, with a SymcnnError."""
    name, kwargs, shape, inferred = case
    theirs = run_torch(name, kwargs, inferred, shape)
    assert isinstance(theirs, RuntimeError) and is_size_error(theirs), theirs
    with pytest.raises(SymcnnError):
        LAYER_TYPES[name](**kwargs).output_shape(shape)


@pytest.mark.parametrize("name, kwargs, shape, inferred", [
    ("Conv2d", dict(out_channels=2, kernel_size=5), (1, 3, 3), {"in_channels": 1}),
    ("Conv1d", dict(out_channels=2, kernel_size=3, dilation=3), (1, 6), {"in_channels": 1}),
    ("ConvTranspose1d", dict(out_channels=2, kernel_size=1, padding=3), (1, 2),
     {"in_channels": 1}),
    ("ConvTranspose3d", dict(out_channels=1, kernel_size=2, padding=(0, 2, 0)), (1, 2, 2, 2),
     {"in_channels": 1}),
    ("MaxPool2d", dict(kernel_size=5), (1, 3, 3), {}),
    ("MaxPool1d", dict(kernel_size=3, dilation=2), (1, 4), {}),
    ("MaxPool3d", dict(kernel_size=2, stride=1, padding=1, dilation=3), (1, 1, 1, 1), {}),
    ("AvgPool1d", dict(kernel_size=5), (1, 3), {}),
    ("AvgPool3d", dict(kernel_size=5), (1, 3, 3, 3), {}),
    ("AvgPool3d", dict(kernel_size=3, padding=1), (1, 2, 4, 4), {}),  # see pool.py
    ("Upsample", dict(scale_factor=0.5), (1, 1, 4), {}),
    ("Upsample", dict(scale_factor=0.3), (1, 3), {}),
])
def test_non_positive_output_is_refused(name, kwargs, shape, inferred):
    theirs = run_torch(name, kwargs, inferred, shape)
    assert isinstance(theirs, RuntimeError) and is_size_error(theirs), theirs
    with pytest.raises(SymcnnError):
        LAYER_TYPES[name](**kwargs).output_shape(shape)


@pytest.mark.parametrize("name, kwargs, shape, inferred", [
    ("ConvTranspose2d", dict(out_channels=2, kernel_size=3, padding_mode="reflect"), (1, 5, 5),
     {"in_channels": 1}),
    ("ConvTranspose1d", dict(out_channels=2, kernel_size=3, stride=2, output_padding=2), (1, 5),
     {"in_channels": 1}),
    ("Conv2d", dict(out_channels=2, kernel_size=3, stride=2, padding="same"), (1, 5, 5),
     {"in_channels": 1}),
    ("Conv2d", dict(out_channels=3, kernel_size=3, groups=2), (2, 5, 5), {"in_channels": 2}),
    ("MaxPool2d", dict(kernel_size=3, padding=2), (1, 9, 9), {}),
    ("AvgPool1d", dict(kernel_size=2, padding=2), (1, 9), {}),
    ("AvgPool1d", dict(kernel_size=2, divisor_override=2), (1, 9), {}),
    ("AdaptiveAvgPool1d", dict(output_size=(None,)), (1, 5), {}),
    ("Upsample", dict(scale_factor=2, mode="bilinear"), (1, 5), {}),
    ("Upsample", dict(scale_factor=2, mode="trilinear"), (1, 5, 5), {}),
    ("Upsample", dict(scale_factor=2, align_corners=True), (1, 5, 5), {}),
    ("Upsample", dict(scale_factor=2), (1, 2, 2, 2, 2), {}),
    ("Upsample", dict(size=4, recompute_scale_factor=True), (1, 5), {}),
    ("Dropout1d", dict(), (1, 2, 3), {}),
    ("Softmax", dict(dim=3), (1, 2), {}),
    ("Softmax", dict(dim=-4), (1, 2), {}),
    ("Flatten", dict(start_dim=3, end_dim=2), (1, 2, 3), {}),
    ("LayerNorm", dict(normalized_shape=(4, 3)), (1, 3, 4), {}),
    ("Linear", dict(out_features=3, in_features=4), (2, 5), {}),
])
def test_what_torch_refuses_symcnn_refuses(name, kwargs, shape, inferred):
    """Configurations PyTorch refuses (in the constructor or in forward): symcnn too."""
    kw = {k: v for k, v in kwargs.items() if k != "in_features"}
    theirs = run_torch(name, kw, {**inferred, **{k: v for k, v in kwargs.items()
                                                 if k == "in_features"}}, shape)
    assert isinstance(theirs, Exception), theirs
    assert isinstance(run_symcnn(name, kwargs, shape), SymcnnError)


def test_float_scale_factor_rounds_as_pytorch():
    """PyTorch computes floor(n * scale) in double precision: 100 * 1.15 -> 114, not 115."""
    assert compare("Upsample", dict(scale_factor=1.15), (1, 100))[0] == (1, 114)
    assert compare("Upsample", dict(scale_factor=0.7), (1, 10))[0] == (1, 7)
    assert compare("Upsample", dict(scale_factor=(1.5, 2.5), mode="bilinear"), (2, 5, 3))[0] \
        == (2, 7, 7)


# --------------------------------------------------------------------------- known networks


def test_torchinfo_single_input_net():
    """torchinfo's SingleInputNet (its README): 260 + 5,020 + 16,050 + 510 = 21,840."""
    from symcnn.layers import Conv2d, Dropout, Dropout2d, Flatten, Linear, MaxPool2d, ReLU
    nn = torch.nn
    net = symcnn.Network.sequential("SingleInputNet", (1, 28, 28), [
        Conv2d(out_channels=10, kernel_size=5), MaxPool2d(kernel_size=2), ReLU(),
        Conv2d(out_channels=20, kernel_size=5), Dropout2d(), MaxPool2d(kernel_size=2), ReLU(),
        Flatten(), Linear(out_features=50), ReLU(), Dropout(), Linear(out_features=10)])
    analysis = symcnn.analyze(net)
    params = {r.name: r.params for r in analysis.rows if r.params}
    assert params == {"conv2d_1": 260, "conv2d_4": 5_020, "linear_9": 16_050, "linear_12": 510}
    assert analysis.total_params == 21_840
    assert analysis.total_buffers == 0
    for row in analysis.rows:
        if row.params_derivation is not None:
            assert row.params_derivation.value == row.params

    model = nn.Sequential(
        nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(10, 20, 5), nn.Dropout2d(), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(320, 50), nn.ReLU(), nn.Dropout(), nn.Linear(50, 10)).to("meta")
    x = torch.empty((BATCH, 1, 28, 28), device="meta")
    for row, module in zip(analysis.rows, model):
        x = module(x)
        assert row.output_shape == tuple(x.shape[1:]), row.name
        assert row.params == sum(p.numel() for p in module.parameters()), row.name
    assert analysis.total_params == sum(p.numel() for p in model.parameters())
    assert analysis.output_shape == (10,)


def test_declared_input_sizes_through_analyze():
    """in_channels, num_features, num_channels and in_features given explicitly, as a spec
    may give them: analyze (which writes every derivation) agrees with PyTorch."""
    from symcnn.layers import BatchNorm1d, Conv1d, ConvTranspose1d, GroupNorm, Linear
    nn = torch.nn
    net = symcnn.Network.sequential("declared", (3, 12), [
        Conv1d(in_channels=3, out_channels=6, kernel_size=3),
        GroupNorm(num_groups=2, num_channels=6),
        ConvTranspose1d(in_channels=6, out_channels=4, kernel_size=2, stride=2),
        BatchNorm1d(num_features=4), Linear(in_features=20, out_features=7, bias=False)])
    analysis = symcnn.analyze(net)
    model = nn.Sequential(nn.Conv1d(3, 6, 3), nn.GroupNorm(2, 6), nn.ConvTranspose1d(6, 4, 2, 2),
                          nn.BatchNorm1d(4), nn.Linear(20, 7, bias=False)).to("meta")
    x = torch.empty((BATCH, 3, 12), device="meta")
    for row, module in zip(analysis.rows, model):
        x = module(x)
        assert row.output_shape == tuple(x.shape[1:]), row.name
        assert row.params == row.params_derivation.value == \
            sum(p.numel() for p in module.parameters()), row.name
        assert row.buffers == sum(b.numel() for b in module.buffers()), row.name
    assert analysis.rows[-1].params_derivation.text == "n_in*n_out = 20*7 = 140"


def test_batchnorm_buffers_network():
    """BatchNorm buffers (running_mean, running_var, num_batches_tracked) through analyze."""
    from symcnn.layers import BatchNorm2d, Conv2d
    nn = torch.nn
    net = symcnn.Network.sequential("bn", (3, 8, 8), [
        Conv2d(out_channels=16, kernel_size=3, padding=1, bias=False), BatchNorm2d()])
    analysis = symcnn.analyze(net)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
    assert analysis.total_params == sum(p.numel() for p in model.parameters()) == 432 + 32
    assert analysis.total_buffers == sum(b.numel() for b in model.buffers()) == 33


#: A plain configuration of every layer type, so that a type added to LAYER_TYPES without a
#: comparison here fails; the hypothesis tests above draw random ones of each.
PLAIN = {
    "Conv1d": (dict(out_channels=4, kernel_size=3), (2, 9), {"in_channels": 2}),
    "Conv2d": (dict(out_channels=4, kernel_size=3, stride=2), (2, 9, 8), {"in_channels": 2}),
    "Conv3d": (dict(out_channels=4, kernel_size=(1, 2, 3), padding="same"), (2, 4, 5, 6),
               {"in_channels": 2}),
    "ConvTranspose1d": (dict(out_channels=4, kernel_size=3, stride=2), (2, 5), {"in_channels": 2}),
    "ConvTranspose2d": (dict(out_channels=4, kernel_size=3, stride=2, output_padding=1),
                        (2, 5, 4), {"in_channels": 2}),
    "ConvTranspose3d": (dict(out_channels=4, kernel_size=2, groups=2), (2, 3, 4, 5),
                        {"in_channels": 2}),
    "MaxPool1d": (dict(kernel_size=2), (3, 9), {}),
    "MaxPool2d": (dict(kernel_size=2, ceil_mode=True), (3, 7, 7), {}),
    "MaxPool3d": (dict(kernel_size=3, stride=2, padding=1, dilation=2), (3, 7, 6, 5), {}),
    "AvgPool1d": (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (3, 8), {}),
    "AvgPool2d": (dict(kernel_size=2), (3, 7, 7), {}),
    "AvgPool3d": (dict(kernel_size=2, count_include_pad=False), (3, 4, 5, 6), {}),
    "AdaptiveAvgPool1d": (dict(output_size=3), (3, 8), {}),
    "AdaptiveAvgPool2d": (dict(output_size=(1, None)), (3, 5, 6), {}),
    "AdaptiveAvgPool3d": (dict(output_size=(2, 3, None)), (3, 4, 5, 6), {}),
    "AdaptiveMaxPool1d": (dict(output_size=1), (3, 8), {}),
    "AdaptiveMaxPool2d": (dict(output_size=7), (3, 5, 6), {}),
    "AdaptiveMaxPool3d": (dict(output_size=(None, 1, 2)), (3, 4, 5, 6), {}),
    "BatchNorm1d": (dict(), (6, 5), {"num_features": 6}),
    "BatchNorm2d": (dict(), (6, 5, 4), {"num_features": 6}),
    "BatchNorm3d": (dict(affine=False), (6, 3, 4, 5), {"num_features": 6}),
    "GroupNorm": (dict(num_groups=3, bias=False), (6, 5, 4), {"num_channels": 6}),
    "LayerNorm": (dict(normalized_shape=(5, 4)), (6, 5, 4), {}),
    "ReLU": (dict(), (6, 5, 4), {}),
    "LeakyReLU": (dict(negative_slope=0.1), (6, 5, 4), {}),
    "GELU": (dict(), (6, 5, 4), {}),
    "SiLU": (dict(inplace=True), (6, 5, 4), {}),
    "Sigmoid": (dict(), (6, 5, 4), {}),
    "Tanh": (dict(), (6, 5, 4), {}),
    "Softmax": (dict(dim=1), (6, 5, 4), {}),
    "Dropout": (dict(p=0.2), (6, 5, 4), {}),
    "Dropout1d": (dict(), (6, 5), {}),
    "Dropout2d": (dict(), (6, 5, 4), {}),
    "Dropout3d": (dict(), (6, 5, 4, 3), {}),
    "Identity": (dict(), (6, 5, 4), {}),
    "ReLU6": (dict(inplace=True), (6, 5, 4), {}),
    "Hardtanh": (dict(min_val=-2.0, max_val=3.0), (6, 5, 4), {}),
    "Hardswish": (dict(), (6, 5, 4), {}),
    "Hardsigmoid": (dict(), (6, 5, 4), {}),
    "ELU": (dict(alpha=0.5), (6, 5, 4), {}),
    "Mish": (dict(), (6, 5, 4), {}),
    "Softplus": (dict(beta=2.0), (6, 5, 4), {}),
    "PReLU": (dict(num_parameters=6), (6, 5, 4), {}),
    "Flatten": (dict(), (6, 5, 4), {}),
    "Linear": (dict(out_features=3), (6, 5, 4), {"in_features": 4}),
    "Upsample": (dict(scale_factor=2, mode="bilinear"), (6, 5, 4), {}),
}


#: The merging layers are torch functions, not modules: ``x + y`` and ``torch.cat``.
MERGE = {
    "Add": (dict(), [(6, 5, 4), (6, 5, 4), (6, 5, 4)], lambda xs: xs[0] + xs[1] + xs[2]),
    "Concat": (dict(), [(6, 5, 4), (2, 5, 4)], lambda xs: torch.cat(xs, dim=1)),
}


def compare_merge(name: str, kwargs: dict, shapes, op) -> None:
    xs = [torch.empty((BATCH, *s), device="meta") for s in shapes]
    expected = tuple(op(xs).shape[1:])
    layer = LAYER_TYPES[name](**kwargs)
    ins = [tuple(sympy.Integer(v) for v in s) for s in shapes]
    assert layer.output_shape(*ins) == expected
    assert layer.params(*ins[:1]) == 0 and layer.conditions(*ins) == ()


@pytest.mark.parametrize("dim", [1, 2, 3, -1, -3])
def test_concat_dims_match_torch(dim):
    shapes = [(2, 3, 4), (2, 3, 4)]
    compare_merge("Concat", {"dim": dim}, shapes, lambda xs: torch.cat(xs, dim=dim))


def test_merge_shape_mismatch_refused_like_torch():
    with pytest.raises(RuntimeError):
        torch.empty((1, 64, 56, 56), device="meta") + torch.empty((1, 128, 28, 28), device="meta")
    with pytest.raises(SymcnnError, match="channels 64 vs 128"):
        LAYER_TYPES["Add"]().output_shape((64, 56, 56), (128, 28, 28))
    with pytest.raises(RuntimeError):
        torch.cat([torch.empty((1, 2, 5, 4)), torch.empty((1, 2, 5, 3))], dim=1)
    with pytest.raises(SymcnnError, match="spatial axis 2 4 vs 3"):
        LAYER_TYPES["Concat"]().output_shape((2, 5, 4), (2, 5, 3))


@pytest.mark.parametrize("name", ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm"])
def test_norms_without_bias(name):
    kwargs = {"num_groups": 2} if name == "GroupNorm" else {}
    shape = {"BatchNorm1d": (6, 5), "BatchNorm3d": (6, 3, 4, 5)}.get(name, (6, 5, 4))
    inferred = {"num_channels": 6} if name == "GroupNorm" else {"num_features": 6}
    assert compare(name, {**kwargs, "bias": False}, shape, inferred) is not None


@pytest.mark.parametrize("name", sorted(LAYER_TYPES))
def test_every_layer_type(name):
    from tests.test_torch_tensor_ops import TENSOR_OPS

    if name in MERGE:
        compare_merge(name, *MERGE[name])
        return
    if name in TENSOR_OPS:
        TENSOR_OPS[name]()
        return
    assert name in PLAIN, f"{name} has no comparison with PyTorch in this file"
    kwargs, shape, inferred = PLAIN[name]
    assert compare(name, kwargs, shape, inferred) is not None
