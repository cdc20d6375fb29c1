"""Tensor lifetimes (symcnn.analysis.liveness), by hand and against PyTorch: a branch whose
output nothing reads, measured live with the CPU allocator's counter (torch's profiler)."""

import pytest

import symcnn
from symcnn.analysis.liveness import lifetimes
from symcnn.memory.estimate import live_elements
from symcnn.memory.pytorch.inference import inference_moments
from symcnn.memory.pytorch.saved import saved_tensors
from symcnn.memory.pytorch.timeline import training_moments

#: x (64) -> l1 Linear(4096) -> l2 Linear(8), and a GELU on l1's output that nothing reads.
DEAD_BRANCH = """
[input]
shape = [64]
[[layers]]
name = "l1"
type = "Linear"
out_features = 4096
[[layers]]
name = "dead"
type = "GELU"
inputs = ["l1"]
[[layers]]
name = "l2"
type = "Linear"
out_features = 8
inputs = ["l1"]
"""
BATCH = 4
DEAD_BYTES = BATCH * 4096 * 4          # the GELU's output, fp32


def analysis(text=DEAD_BRANCH):
    return symcnn.analyze(symcnn.parse_spec(text).network)


def test_lifetimes_by_hand():
    """conv (allocates) -> relu in place (shares) -> flatten (a view: shares) -> linear, and a
    sigmoid on conv's output that nothing reads."""
    a = analysis("""
[input]
shape = [1, 4, 4]
[[layers]]
name = "conv"
type = "Conv2d"
out_channels = 2
kernel_size = 3
[[layers]]
name = "side"
type = "Sigmoid"
inputs = ["conv"]
[[layers]]
name = "relu"
type = "ReLU"
inplace = true
inputs = ["conv"]
[[layers]]
name = "flat"
type = "Flatten"
[[layers]]
name = "fc"
type = "Linear"
out_features = 3
""")
    live = a.liveness
    assert live is a.liveness                  # computed once
    assert live.storage == {"input": "input", "conv": "conv", "side": "side", "relu": "conv",
                            "flat": "conv", "fc": "fc"}
    assert live.born == {"input": 0, "conv": 1, "side": 2, "fc": 5}
    # conv's storage is read last by fc (through relu and flat); side's by nobody: its own
    # node; the output lives on after the last node
    assert live.last_read == {"input": 1, "conv": 5, "side": 2, "fc": 6}
    assert live.readers["conv"] == (2, 3) and live.readers["side"] == ()
    assert live.alive == (("input",), ("input", "conv"), ("conv", "side"), ("conv",), ("conv",),
                          ("conv", "fc"))
    assert live.trained == {"conv", "relu", "flat", "fc"}
    # eval mode may make a layer share its input's storage
    assert lifetimes(a, lambda r: r.allocates and r.name != "side").storage["side"] == "conv"


def test_every_user_counts_an_unread_output_while_its_node_runs():
    a = analysis()
    train = {m.node: int(m.at(BATCH)) for m in training_moments(a, device="cpu", batch=BATCH)
             if m.phase == "forward"}
    infer = {m.node: int(m.at(BATCH)) for m in inference_moments(a, device="cpu", batch=BATCH)}
    for moments in (train, infer):
        assert moments["dead"] - moments["l1"] == DEAD_BYTES          # h, and the dead output
        assert moments["l2"] - moments["l1"] == BATCH * 8 * 4         # dead freed, l2's made
    # the lecture conventions' inference figure: x is read last by l1
    assert [int(v) for v in live_elements(a)] == [64 + 4096, 4096 + 4096, 4096 + 8]
    # its graph is freed with it: it saves nothing and runs no backward
    assert all(t.saved_by != "dead" for t in saved_tensors(a, "cpu"))
    assert not any(m.node == "dead" for m in training_moments(a, device="cpu")
                   if m.phase == "backward")


# --- measured live: what PyTorch allocates ---

def _measure(training: bool):
    """Run the dead-branch network (its GELU's result discarded) once under the profiler:
    the allocator's counter before, at the highest point of and after each module's call,
    and the autograd functions backward evaluated."""
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile, record_function

    from validation.measure import profiler_events

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.dead = torch.nn.Linear(64, 4096), torch.nn.GELU()
            self.l2 = torch.nn.Linear(4096, 8)

        def forward(self, x):
            h = self.l1(x)
            self.dead(h)                           # nothing reads it
            return self.l2(h)

    model, x, y = Net(), torch.randn(BATCH, 64), torch.randn(BATCH, 8)
    ranges = []
    for name, module in model.named_children():
        module.register_forward_pre_hook(lambda m, a, n=name: ranges.append(
            [n, record_function("node::" + n).__enter__()]))
        module.register_forward_hook(lambda m, a, o: ranges[-1][1].__exit__(None, None, None))
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        if training:
            torch.nn.functional.mse_loss(model(x), y).backward()
        else:
            with torch.no_grad():
                model.eval()(x)
    events = profiler_events(prof)
    kinds = torch._C._profiler._EventType
    allocs = sorted((e.start_time_ns, e.extra_fields.alloc_size, e.extra_fields.total_allocated)
                    for e in events if e.tag == kinds.Allocation)
    marks = {e.name[6:]: (e.start_time_ns, e.end_time_ns) for e in events
             if e.tag == kinds.TorchOp and e.name.startswith("node::")}
    functions = {e.name.rsplit(" ", 1)[-1] for e in events if e.tag == kinds.TorchOp
                 and e.name.startswith("autograd::engine::evaluate_function")}

    def window(name):
        start, end = marks[name]
        before = [total for t, _, total in allocs if t < start]
        inside = [total for t, _, total in allocs if start <= t <= end]
        base = before[-1] if before else 0
        return base, max(inside + [base])

    return {n: window(n) for n in marks}, allocs, marks, functions


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_pytorch_allocates_an_unread_output_for_its_node_only(training):
    """PyTorch allocates the GELU's output while the GELU runs and frees it before l2 starts
    (no reference is left); symcnn's training step and eval-mode forward pass say the same."""
    nodes, allocs, marks, functions = _measure(training)
    dead_start, dead_end = marks["dead"]
    made = [size for t, size, _ in allocs if dead_start <= t <= dead_end and size > 0]
    assert made == [DEAD_BYTES]
    freed = [size for t, size, _ in allocs if dead_end <= t <= marks["l2"][0]]
    assert freed == [-DEAD_BYTES]
    assert nodes["dead"][1] - nodes["dead"][0] == DEAD_BYTES
    assert nodes["l2"][0] == nodes["dead"][0]  # back where the GELU started
    a = analysis()
    moments = (training_moments(a, device="cpu", batch=BATCH) if training
               else inference_moments(a, device="cpu", batch=BATCH))
    at = {m.node: int(m.at(BATCH)) for m in moments if m.phase in ("forward", "inference")}
    # the same steps, in the model: what each node's call adds to what l1's left alive
    assert at["dead"] - at["l1"] == nodes["dead"][1] - nodes["l1"][1]
    assert at["l2"] - at["l1"] == nodes["l2"][1] - nodes["l1"][1]
    if training:                               # backward never reaches the dead branch
        assert "GeluBackward0" not in functions and "AddmmBackward0" in functions


def test_a_dead_branch_gets_no_gradient_and_no_optimizer_state():
    """PyTorch leaves a dead branch's parameters without a gradient (``grad is None``) and
    SGD with momentum (and Adam) keep no state for them; the step counts neither."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.dead = torch.nn.Linear(4, 8), torch.nn.Linear(8, 3)
            self.l2 = torch.nn.Linear(8, 2)

        def forward(self, x):
            h = self.l1(x)
            self.dead(h)                           # nothing reads it
            return self.l2(h)

    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        torch.nn.functional.mse_loss(model(torch.randn(5, 4)), torch.randn(5, 2)).backward()
        assert all(p.grad is None for p in model.dead.parameters())
        opt.step()
        opt.zero_grad(set_to_none=True)
    assert [len(opt.state[p]) for p in model.dead.parameters()] == [0, 0]
    a = analysis("""
[input]
shape = [4]
[[layers]]
name = "l1"
type = "Linear"
out_features = 8
[[layers]]
name = "dead"
type = "Linear"
out_features = 3
inputs = ["l1"]
[[layers]]
name = "l2"
type = "Linear"
out_features = 2
inputs = ["l1"]
""")
    dead, live = 8 * 3 + 3, (4 * 8 + 8) + (8 * 2 + 2)
    step = {m.phase: m for m in training_moments(a, optimizer="momentum", device="cpu")}
    # resident: every parameter, the momentum of the live ones; the step adds their gradients
    assert int(step["forward"].fixed) == 4 * (dead + live + live)
    assert int(step["optimizer"].fixed) == 4 * (dead + live + live + live) + 12


#: x (64) -> stem Linear(512) -> the module ``stack``: a Linear(2048), b Linear(2048),
#: c Linear(8).  Only stack.a reads stem's output, but ``stack`` was called with it.
STACK = """
[input]
shape = [64]
[[layers]]
name = "stem"
type = "Linear"
out_features = 512
[[layers]]
name = "stack.a"
type = "Linear"
out_features = 2048
[[layers]]
name = "stack.b"
type = "Linear"
out_features = 2048
[[layers]]
name = "stack.c"
type = "Linear"
out_features = 8
"""


def test_a_module_call_holds_its_arguments_until_it_returns():
    """With ``caller_holds`` (eager PyTorch) the storage a module is passed stays alive
    through the module's last node; without it (the summed conventions), until its last
    reader."""
    a = analysis(STACK)
    held, plain = lifetimes(a, caller_holds=True), lifetimes(a)
    c = a.rows[-1].index
    assert "stem" in held.alive[c] and "stem" not in plain.alive[c]
    assert held.held == {"stem": c} and plain.held == {}
    assert held.last_read == plain.last_read        # the readers are the same
    assert live_elements(a) == live_elements(analysis(STACK.replace("stack.", "stack_")))


def test_names_that_are_not_one_module_call_hold_nothing():
    """``s.a``, ``t``, ``s.b``: the nodes of ``s`` do not run one after another, so ``s`` is
    not one call of a module and its name says nothing about lifetimes."""
    text = STACK.replace('"stack.b"', '"t"')
    assert lifetimes(analysis(text), caller_holds=True).held == {}


def test_pytorch_keeps_a_module_argument_alive_through_the_module():
    """Measured: in ``no_grad`` inference stem's output (the argument of ``stack``) is freed
    only when ``stack`` returns, so at the highest point (stack.b) the allocator holds stem's,
    a's and b's outputs, not a's and b's alone; symcnn's eval-mode forward pass says the same
    to the byte."""
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile

    from validation.measure import profiler_events

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Linear(64, 512)
            self.stack = torch.nn.Sequential(torch.nn.Linear(512, 2048),
                                             torch.nn.Linear(2048, 2048),
                                             torch.nn.Linear(2048, 8))

        def forward(self, x):
            return self.stack(self.stem(x))

    model, x = Net().eval(), torch.randn(BATCH, 64)
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(x)
    events = profiler_events(prof)
    allocs = sorted((e.start_time_ns, e.extra_fields.total_allocated) for e in events
                    if e.tag == torch._C._profiler._EventType.Allocation)
    start = allocs[0][1] - next(e.extra_fields.alloc_size for e in events
                                if e.tag == torch._C._profiler._EventType.Allocation
                                and e.start_time_ns == allocs[0][0])
    measured = max(total for _, total in allocs) - start
    moments = inference_moments(analysis(STACK), device="cpu", batch=BATCH)
    resident = 4 * (sum(p.numel() for p in model.parameters()) + x.numel())
    predicted = max(int(m.at(BATCH)) for m in moments) - resident
    assert measured == predicted == 4 * BATCH * (512 + 2048 + 2048)
