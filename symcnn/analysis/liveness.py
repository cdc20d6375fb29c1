"""Tensor lifetimes: which storage every node's output uses, which node makes it, which nodes
read it, and the nodes during which it is alive; computed once per analysis
(:attr:`symcnn.analysis.rows.Analysis.liveness`) and read by every memory figure: the summed
conventions' inference figure, PyTorch's training step, its eval-mode forward pass,
activation checkpointing and the saved-tensor rules (:mod:`symcnn.memory`).

The rules (no device or precision here; those stay in :mod:`symcnn.memory.pytorch`):

* A node that allocates its output owns a new storage; a view (Flatten) or an in-place layer
  writes into its first input's storage, which it then shares.  A learned tensor (a
  ``Parameter`` layer) is a parameter: it reads nothing, and its storage is never allocated
  by the step.
* A storage is alive from the node that allocates it (the network input: from the start)
  through its last reader.  An output that nothing reads is alive while its node runs (the
  kernel writes it), then freed; the network's output lives on after the last node (into the
  loss), position ``n + 1``.  Measured with torch 2.13 on the CPU for a branch whose output
  nothing reads (``tests/test_liveness.py``): the output is allocated during its node and
  freed before the next one, in training and in inference.
* A node whose output does not reach the network's output (a dead branch) is out of the
  autograd graph that ``loss.backward()`` walks: its graph is freed with its output, it saves
  nothing for backward, runs no backward and sends its input no gradient
  (:attr:`Liveness.trained`).
* Eager PyTorch only (``caller_holds``): a dotted node name is a module path
  (``layers.l0.add`` runs inside the module ``layers.l0``, inside ``layers``), and a module's
  arguments stay alive until the module returns, whatever it does with them: the caller's
  frame (``x = self.layers(x)``) or its argument tuple holds them.  So a storage that nodes of
  a module read from outside it lives through the module's last node.  A module path whose
  nodes do not run one after another (not one call) holds nothing.  Measured with torch 2.13
  on the CPU (``tests/test_liveness.py``): an encoder stack's input stays alive through the
  whole stack in ``no_grad`` inference, though only its first layer reads it.

Every figure is computed in one pass over the nodes (time linear in the depth):
:attr:`Liveness.alive` lists, for each node, the storages alive while it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INPUT = "input"


@dataclass(frozen=True)
class Liveness:
    """Lifetimes of a network's tensors; positions are the nodes' ``index`` (1 to ``n``,
    the network input 0, after the last node ``n + 1``)."""

    #: node (and ``"input"``) -> its position
    index: dict[str, int]
    #: node (and ``"input"``) -> the node whose storage its output is (itself when it allocates)
    storage: dict[str, str]
    #: storage -> the position of the node that allocates it (0: the network input)
    born: dict[str, int]
    #: storage -> the position of its last reader (or its maker's, when nothing reads it);
    #: ``n + 1`` for the network output's storage
    last_read: dict[str, int]
    #: node (and ``"input"``) -> the positions of the nodes reading its output, each once, in order
    readers: dict[str, tuple[int, ...]]
    #: the nodes whose output reaches the network's output (those autograd runs backward)
    trained: frozenset[str]
    #: for each position 1..n (entry 0: before the first node): the storages alive while that
    #: node runs, in the order they were allocated
    alive: tuple[tuple[str, ...], ...]
    #: the nodes that hold a learned tensor (Parameter): a parameter, resident, never allocated
    #: by the step; they read no input
    learned: frozenset[str] = frozenset()
    #: storage -> the position of the last node of the outermost module call it was passed
    #: to, where that is after its last reader (``caller_holds``; see the module)
    held: dict[str, int] = field(default_factory=dict)

    def reads_input(self, row) -> bool:
        """Whether ``row``'s first input is the network input's storage (the batch itself)."""
        return self.storage[row.inputs[0]] == INPUT

    def born_here(self, row) -> bool:
        """Whether ``row`` allocates the storage of its output."""
        return self.storage[row.name] == row.name


def lifetimes(analysis, allocates=None, *, caller_holds: bool = False) -> Liveness:
    """The :class:`Liveness` of ``analysis`` (see the module).  ``allocates(row)`` says which
    nodes allocate their output (default: ``row.allocates``); the eval-mode forward pass
    passes its own (Dropout returns its input there).  ``caller_holds``: a module's arguments
    live until it returns (eager PyTorch; the module paths of dotted names)."""
    rows = analysis.rows
    n = len(rows)
    index = {INPUT: 0}
    storage = {INPUT: INPUT}
    born = {INPUT: 0}
    last_read = {INPUT: 0}
    readers: dict[str, list[int]] = {INPUT: []}
    learned = frozenset(r.name for r in rows if not r.layer.reads_inputs)
    for r in rows:
        index[r.name] = r.index
        readers[r.name] = []
        if r.name in learned:
            storage[r.name] = r.name        # a parameter: no storage of the step's, never born
            continue
        own = r.allocates if allocates is None else allocates(r)
        storage[r.name] = r.name if own else storage[r.inputs[0]]
        if own:
            born[r.name] = r.index
        for i in dict.fromkeys(r.inputs):
            readers[i].append(r.index)
        for i in r.inputs:
            last_read[storage[i]] = r.index
        last_read[storage[r.name]] = max(last_read.get(storage[r.name], 0), r.index)
    last_read[storage[rows[-1].name] if rows else INPUT] = n + 1
    trained = _reaching_output(rows)
    held = {}
    if caller_holds:
        held = {st: end for st, end in _held_by_callers(rows, storage, learned).items()
                if end > last_read.get(st, 0)}
    return Liveness(index, storage, born, last_read,
                    {k: tuple(v) for k, v in readers.items()}, trained,
                    _alive(born, {**last_read, **held}, n), learned, held)


def _module_calls(rows) -> dict[str, int]:
    """Module path -> the position of its last node, for each path whose nodes run one after
    another (one call of that module): ``a.b`` for a node ``a.b.c``, and ``a``."""
    span: dict[str, list[int]] = {}         # path -> [first, last, nodes]
    for r in rows:
        parts = r.name.split(".")
        for k in range(1, len(parts)):
            entry = span.setdefault(".".join(parts[:k]), [r.index, r.index, 0])
            entry[1], entry[2] = r.index, entry[2] + 1
    return {path: last for path, (first, last, count) in span.items()
            if last - first + 1 == count}


def _held_by_callers(rows, storage, learned) -> dict[str, int]:
    """Storage -> the last node of the outermost module call that reads it from outside
    (each enclosing call whose nodes read it from outside holds it until it returns)."""
    calls = _module_calls(rows)
    held: dict[str, int] = {}
    for r in rows:
        if r.name in learned:
            continue
        parts = r.name.split(".")
        for k in range(1, len(parts)):
            path = ".".join(parts[:k])
            if path not in calls:
                continue
            for i in r.inputs:
                if not i.startswith(path + "."):
                    st = storage[i]
                    held[st] = max(held.get(st, 0), calls[path])
    return held


def _reaching_output(rows) -> frozenset[str]:
    """The nodes the network's output depends on (walked back from the last node)."""
    if not rows:
        return frozenset()
    wanted = {rows[-1].name}
    for r in reversed(rows):
        if r.name in wanted and r.layer.reads_inputs:
            wanted.update(r.inputs)
    wanted.discard(INPUT)
    return frozenset(wanted)


def _alive(born: dict[str, int], last_read: dict[str, int], n: int) -> tuple:
    """The storages alive at each position 0..n, by one sweep (``born`` is in allocation
    order)."""
    starting: dict[int, list[str]] = {}
    for st, i in born.items():
        starting.setdefault(i, []).append(st)
    ending: dict[int, list[str]] = {}
    for st, i in last_read.items():
        ending.setdefault(i, []).append(st)
    active: dict[str, None] = {}
    out = []
    for i in range(n + 1):
        for st in starting.get(i, ()):
            active[st] = None
        out.append(tuple(active))
        for st in ending.get(i, ()):
            active.pop(st, None)
    return tuple(out)
