"""The per-layer rule tables (symcnn.layers.dispatch): every layer type has an entry in every
table, so adding a layer type without its rules fails here, and a lookup takes the most
specific entry along the class hierarchy."""

import re
from dataclasses import dataclass

import pytest

from symcnn import layers
from symcnn.analysis.macs import MACS_RULES
from symcnn.analysis.receptive import FIELD_RULES
from symcnn.layers import FAMILIES, LAYER_TYPES, Layer
from symcnn.layers.dispatch import NoRule, RuleTable
from symcnn.memory.pytorch.evalkernels import EVAL_KERNELS
from symcnn.memory.pytorch.inference import EVAL_MODE
from symcnn.memory.pytorch.saved import AUTOCAST, SAVED_RULES, Autocast
from symcnn.memory.pytorch.workspace import TRANSIENTS

#: The tables and whether one entry on Layer itself may serve every type (a blanket rule
#: said out loud: CUDA's kernel transients are not modelled for any layer).
TABLES = {"saved": (SAVED_RULES, False), "autocast": (AUTOCAST, False),
          "eval mode": (EVAL_MODE, False), "cpu transients": (TRANSIENTS["cpu"], False),
          "cuda transients": (TRANSIENTS["cuda"], True),
          # the entry on Layer: the training forward's kernel transients hold in inference
          "cpu inference transients": (EVAL_KERNELS, True),
          # torchinfo's count is one rule for every module (its parameters), save convolutions
          "fvcore MACs": (MACS_RULES["fvcore"], False), "torchinfo MACs": (MACS_RULES["torchinfo"], True),
          "ptflops MACs": (MACS_RULES["ptflops"], False), "receptive field": (FIELD_RULES, False)}


@pytest.mark.parametrize("table_name", TABLES)
@pytest.mark.parametrize("type_name", LAYER_TYPES)
def test_every_layer_type_has_an_entry(table_name, type_name):
    table, blanket = TABLES[table_name]
    owner = table.owner(LAYER_TYPES[type_name])
    assert blanket or owner is not Layer


@dataclass(frozen=True, kw_only=True)
class Unknown(Layer):
    """A layer type nobody wrote rules for."""


@pytest.mark.parametrize("table_name", [n for n, (_, blanket) in TABLES.items() if not blanket])
def test_a_new_layer_type_without_entries_is_refused(table_name):
    table, _ = TABLES[table_name]
    with pytest.raises(NoRule, match=f"layer type Unknown: add an entry .* to {re.escape(table.where)}"):
        table[Unknown()]
    assert Unknown not in table


def test_the_most_specific_entry_wins():
    # max_pool1d has a kernel without indices; MaxPool2d/3d inherit MaxPoolNd's entry
    assert not EVAL_MODE[layers.MaxPool1d].call_indices
    assert EVAL_MODE[layers.MaxPool2d].call_indices and EVAL_MODE[layers.MaxPool3d].call_indices
    assert EVAL_MODE[layers.AdaptiveMaxPool1d].call_indices
    assert EVAL_MODE[layers.Dropout].returns_input and EVAL_MODE[layers.Dropout2d].returns_input
    # autocast's CPU fp32 list names the 3-d pools only
    assert AUTOCAST[layers.AvgPool3d].cpu is Autocast.FP32
    assert AUTOCAST[layers.MaxPool2d].cpu is Autocast.KEEP
    # a transposed convolution is a ConvNd, but has its own kernel rule and the convolution's
    # saved-tensor rule
    cpu = TRANSIENTS["cpu"]
    assert cpu.owner(layers.ConvTranspose2d) is not cpu.owner(layers.Conv2d) is layers.ConvNd
    assert SAVED_RULES[layers.ConvTranspose2d] is SAVED_RULES[layers.Conv2d]


def test_resolution_follows_the_mro():
    class A(Layer):
        pass

    class B(A):
        pass

    class C(B):
        pass

    table = RuleTable("test", "here")
    table.add(A, "a")
    assert (table[A], table[B], table[C]) == ("a", "a", "a")
    table.add(B, "b")                      # a later, more specific entry replaces the cached one
    assert (table[A], table[B], table[C]) == ("a", "b", "b")
    assert table.owner(C) is B
    with pytest.raises(ValueError, match="already has a test rule"):
        table.add(B, "again")
    with pytest.raises(NoRule):
        table[layers.ReLU]


def test_families_cover_their_1d_to_3d_types():
    def members(base):
        return {cls for cls in LAYER_TYPES.values() if issubclass(cls, base)}

    assert members(layers.ConvNd) == {layers.Conv1d, layers.Conv2d, layers.Conv3d,
                                      layers.ConvTranspose1d, layers.ConvTranspose2d,
                                      layers.ConvTranspose3d}
    assert all(len(members(base)) >= 3 for base in FAMILIES)
    assert not set(FAMILIES) & set(LAYER_TYPES.values())   # no spec names a family base
