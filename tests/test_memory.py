"""Memory terms, computed by hand for small networks and the lecture's."""

import pytest

from symcnn import Network, SymcnnError, analyze, estimate_memory
from symcnn.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Identity, Linear, ReLU
from symcnn.options import MemoryOptions
from symcnn.spec.builtin import lecture_network

# lecture activations in elements: input, then L1..L8 outputs, then L9's
LECTURE_ELEMENTS = [193 * 229 * 193, 30 * 191 * 227 * 191, 30 * 95 * 113 * 95,
                    60 * 93 * 111 * 93, 60 * 46 * 55 * 46, 120 * 44 * 53 * 44,
                    120 * 21 * 26 * 21, 240 * 19 * 24 * 19, 240 * 9 * 11 * 9, 1]


def test_lecture_inference_peak_is_largest_live_pair():
    m = estimate_memory(analyze(lecture_network()))
    e = LECTURE_ELEMENTS
    # consecutive (input, output) pairs; Flatten is a view, so Linear reads L8's output
    pairs = [e[i] + e[i + 1] for i in range(len(e) - 1)]
    assert m.inference_per_sample == 4 * max(pairs) == 4 * (e[1] + e[2])
    assert m.inference(3) == 3_301_651 * 4 + 3 * 4 * (e[1] + e[2])


@pytest.mark.parametrize("dtype, nbytes", [("float32", 4), ("float16", 2), ("bfloat16", 2),
                                           ("float64", 8)])
def test_dtype_scales_every_term(dtype, nbytes):
    m = estimate_memory(analyze(lecture_network()), MemoryOptions(dtype=dtype))
    e = LECTURE_ELEMENTS
    assert m.params.bytes == 3_301_651 * nbytes
    assert m.per_sample == nbytes * (e[0] + 2 * sum(e[1:]))


@pytest.mark.parametrize("optimizer, states", [("none", 0), ("sgd", 0), ("momentum", 1),
                                               ("adam", 2), ("adamw", 2)])
def test_optimizer_state(optimizer, states):
    m = estimate_memory(analyze(lecture_network()), MemoryOptions(optimizer=optimizer))
    assert m.optimizer_state.bytes == states * 3_301_651 * 4
    assert m.fixed == (2 + states) * 3_301_651 * 4


def test_views_inplace_and_buffers():
    # input 3x8x8 -> conv 4x6x6 -> BN -> ReLU(inplace) -> Dropout -> Identity -> Flatten -> Linear 2
    net = Network.sequential("small", (3, 8, 8), [
        Conv2d(out_channels=4, kernel_size=3), BatchNorm2d(), ReLU(inplace=True), Dropout(),
        Identity(), Flatten(), Linear(out_features=2)])
    a = analyze(net)
    m = estimate_memory(a)
    conv, bn, lin = 3 * 9 * 4 + 4, 2 * 4, (144 + 1) * 2
    assert a.total_params == conv + bn + lin
    assert a.total_buffers == 2 * 4 + 1
    assert m.buffers.bytes == 2 * 4 * 4 + 8  # running mean/var in float32, one int64 counter
    # stored: input once; conv, BN, Dropout, Linear outputs twice (ReLU in place, Identity
    # and Flatten views store nothing new)
    assert [t.source for t in m.activations] == ["input", "conv2d_1", "batchnorm2d_2",
                                                 "dropout_4", "linear_7"]
    assert m.per_sample == 4 * (192 + 2 * (144 + 144 + 144 + 2))
    assert m.fixed == 2 * 4 * (conv + bn + lin) + 2 * 4 * 4 + 8


def test_unknown_options():
    a = analyze(lecture_network())
    with pytest.raises(SymcnnError, match="unknown optimizer 'rmsprop'"):
        estimate_memory(a, MemoryOptions(optimizer="rmsprop"))
    with pytest.raises(SymcnnError, match="unknown dtype 'int4'"):
        estimate_memory(a, MemoryOptions(dtype="int4"))
    with pytest.raises(SymcnnError, match="unknown convention"):
        estimate_memory(a, MemoryOptions("vibes"))
