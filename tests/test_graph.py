"""Graph networks: branches, merges, blocks, conditions on sizes and memory with skips."""

import pytest

from symcnn import Network, SymcnnError, analyze, estimate_memory, make_report, parse_spec
from symcnn.analysis.rows import valid_sizes
from symcnn.layers import Add, Concat, Conv2d, ConvTranspose2d, MaxPool2d, ReLU
from symcnn.network import Node
from symcnn.symbols import size

H = size("H")


def skip_net():
    """input 4x8x8 -> a (conv 8x8x8) -> b (conv 8x8x8) -> sum = a + b -> c (conv 2x8x8)."""
    conv = Conv2d(out_channels=8, kernel_size=3, padding=1)
    return Network("skip", (4, 8, 8), (
        Node("a", conv, ("input",)), Node("b", conv, ("a",)), Node("sum", Add(), ("a", "b")),
        Node("r", ReLU(inplace=True), ("sum",)),
        Node("c", Conv2d(out_channels=2, kernel_size=3, padding=1), ("r",))))


def test_skip_memory_by_hand():
    a = analyze(skip_net())
    m = estimate_memory(a)
    x, conv8, out = 4 * 64, 8 * 64, 2 * 64
    # lecture convention: input once, every allocated output twice (a, b, sum, c)
    assert m.per_sample == 4 * (x + 2 * (conv8 * 3 + out))
    # inference: while b runs, a is kept for the sum: a + b; while sum runs: a + b + sum
    assert m.inference_per_sample == 4 * max(x + conv8, conv8 + conv8, 3 * conv8, conv8 + out)
    assert a.total_params == (9 * 4 + 1) * 8 + (9 * 8 + 1) * 8 + (9 * 8 + 1) * 2


def test_merge_arity_and_shapes():
    conv = Conv2d(out_channels=8, kernel_size=3)
    with pytest.raises(SymcnnError, match="takes two or more inputs, got 1"):
        Network("n", (4, 8, 8), (Node("a", conv, ("input",)), Node("s", Add(), ("a",))))
    with pytest.raises(SymcnnError, match="takes 1 inputs, got 2"):
        Network("n", (4, 8, 8), (Node("a", conv, ("input", "input")),))
    net = Network("n", (4, 8, 8), (Node("a", conv, ("input",)), Node("s", Add(), ("a", "input"))))
    with pytest.raises(SymcnnError) as info:
        analyze(net)
    assert "layer 2 (Add 's')" in str(info.value)
    assert "channels 8 vs 4; spatial axis 1 6 vs 8; spatial axis 2 6 vs 8" in str(info.value)


def unet_level(depth):
    """A U-Net skeleton: `depth` pools down, `depth` transposed convs up, concat skips."""
    nodes, skips, prev = [], [], "input"
    for i in range(depth):
        skips.append(prev)
        nodes.append(Node(f"down{i}", MaxPool2d(kernel_size=2), (prev,)))
        prev = f"down{i}"
    for i in reversed(range(depth)):
        nodes.append(Node(f"up{i}", ConvTranspose2d(out_channels=2, kernel_size=2, stride=2),
                          (prev,)))
        nodes.append(Node(f"cat{i}", Concat(), (f"up{i}", skips[i])))
        nodes.append(Node(f"squeeze{i}", Conv2d(out_channels=2, kernel_size=1), (f"cat{i}",)))
        prev = f"squeeze{i}"
    return Network("unet", (2, H, H), tuple(nodes))


def runs(depth, h):
    """Direct integer arithmetic: does a depth-`depth` U-Net accept an h x h input?"""
    sizes = [h]
    for _ in range(depth):
        sizes.append(sizes[-1] // 2)
    if sizes[-1] < 1:
        return False
    up = sizes[-1]
    for i in reversed(range(depth)):
        up = 2 * up
        if up != sizes[i]:
            return False
    return True


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_unet_conditions_and_valid_sizes(depth):
    a = analyze(unet_level(depth))
    assert len(a.conditions) == depth
    assert all(c.relation.free_symbols == {H} for c in a.conditions)
    assert valid_sizes(a, H, range(1, 100)) == [h for h in range(1, 100) if runs(depth, h)]
    assert valid_sizes(a, H, range(1, 100)) == list(range(2**depth, 100, 2**depth))


BLOCKS = """
name = "blocks"
[input]
shape = [3, 16, 16]

[blocks.res]
params = ["C"]
[[blocks.res.layers]]
type = "Conv2d"
name = "conv"
out_channels = "C"
kernel_size = 3
padding = 1
[[blocks.res.layers]]
type = "Add"
name = "add"
inputs = ["conv", "in"]

[[layers]]
type = "Conv2d"
name = "stem"
out_channels = 8
kernel_size = 1
[[layers]]
block = "res"
name = "stage"
repeat = 3
C = 8
[[layers]]
type = "Conv2d"
name = "head"
inputs = ["stem", "stage.2.add"]
out_channels = 4
kernel_size = 1
"""


def test_blocks_expand_with_names_and_inputs():
    net = parse_spec(BLOCKS.replace('inputs = ["stem", "stage.2.add"]\n', "")).network
    names = [n.name for n in net.nodes]
    assert names == ["stem", "stage.0.conv", "stage.0.add", "stage.1.conv", "stage.1.add",
                     "stage.2.conv", "stage.2.add", "head"]
    node = {n.name: n for n in net.nodes}
    assert node["stage.1.conv"].inputs == ("stage.0.add",)
    assert node["stage.1.add"].inputs == ("stage.1.conv", "stage.0.add")
    assert node["stage.2.add"].block == "stage.2" and node["stage.2.add"].block_type == "res"
    a = analyze(net)
    assert a.total_params == 3 * 8 + 8 + 3 * ((72 * 8) + 8) + (8 + 1) * 4


@pytest.mark.parametrize("edit, message", [
    (("C = 8", "C = 8\nD = 2"), "field 'D': not a parameter of block 'res'"),
    (("C = 8", ""), "field 'C': missing block parameter"),
    (('block = "res"', 'block = "rez"'), "field 'block': unknown block (defined: res)"),
    (('inputs = ["conv", "in"]', 'inputs = ["conv", "stem"]'),
     "'stem' is not an earlier layer of the block"),
    (("repeat = 3", "repeat = 0"), "field 'repeat': must be a whole number >= 1"),
    (('inputs = ["stem", "stage.2.add"]', 'inputs = ["stem", "nowhere"]'),
     "input 'nowhere' is not an earlier node"),
])
def test_block_errors(edit, message):
    with pytest.raises(SymcnnError) as info:
        parse_spec(BLOCKS.replace(*edit), "b.toml")
    assert str(info.value).startswith("b.toml: ")
    assert message in str(info.value)


def test_head_reads_two_branches():
    with pytest.raises(SymcnnError, match="takes 1 inputs, got 2"):
        parse_spec(BLOCKS)


def test_report_on_graph_lists_conditions():
    r = make_report(unet_level(2))
    # up1 doubles floor(H/4) to meet floor(H/2); up0 doubles again to meet H
    assert [str(c.relation) for c in r.analysis.conditions] == [
        "Eq(2*floor(H/4), floor(H/2))", "Eq(4*floor(H/4), H)"]


def test_repeat_can_start_at_one():
    text = BLOCKS.replace("repeat = 3", "repeat = 2\nstart = 1").replace(
        'inputs = ["stem", "stage.2.add"]\n', "")
    names = [n.name for n in parse_spec(text).network.nodes]
    assert names[1:5] == ["stage.1.conv", "stage.1.add", "stage.2.conv", "stage.2.add"]


def test_block_layer_may_not_be_called_in():
    text = BLOCKS.replace('name = "conv"', 'name = "in"')
    with pytest.raises(SymcnnError, match="'in' names the block's input"):
        parse_spec(text)


UP_BLOCK = """
name = "unet-ish"
[input]
shape = [4, 16, 16]
[blocks.up]
params = ["F"]
[[blocks.up.layers]]
type = "ConvTranspose2d"
name = "up"
out_channels = "F"
kernel_size = 2
stride = 2
[[blocks.up.layers]]
type = "Concat"
name = "cat"
inputs = ["up", "in2"]
[[blocks.up.layers]]
type = "Conv2d"
name = "conv"
out_channels = "F"
kernel_size = 3
padding = 1
[[layers]]
type = "Conv2d"
name = "enc"
out_channels = 8
kernel_size = 3
padding = 1
[[layers]]
type = "MaxPool2d"
name = "pool"
kernel_size = 2
[[layers]]
block = "up"
name = "dec"
inputs = ["pool", "enc"]
F = 8
"""


def test_block_with_a_skip_input():
    net = parse_spec(UP_BLOCK).network
    node = {n.name: n for n in net.nodes}
    assert node["dec.up"].inputs == ("pool",)
    assert node["dec.cat"].inputs == ("dec.up", "enc")
    a = analyze(net)
    assert a.output_shape == (8, 16, 16)
    # up: 8*8*4 + 8; conv 3x3 on 16 channels: 9*16*8 + 8
    assert a.total_params == (9 * 4 * 8 + 8) + (8 * 8 * 4 + 8) + (9 * 16 * 8 + 8)
    with pytest.raises(SymcnnError, match="cannot be repeated"):
        parse_spec(UP_BLOCK.replace("F = 8", "F = 8\nrepeat = 2"))
