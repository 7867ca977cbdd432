"""TD's four communication modules (core/comm.py), as its docstring states them: E_g, D_g on
the student's side, E_h, D_h on the teacher's, each linear or Dense-ReLU-Dense with a hidden
width of the wider end, each from its own random stream, and computed as the student's own
layers are (its `matmul`)."""

import pytest
import torch

from ikd_lib.core.comm import Communication, make_module
from ikd_lib.core.stacked import StackedLinear, StackedMLP

SEEDS = (0, 1)
WIDTHS = {"encode_student": (6, 3), "decode_student": (3, 6), "encode_teacher": (10, 3), "decode_teacher": (3, 10)}


@pytest.mark.parametrize("kind", ["linear", "mlp"])
@pytest.mark.parametrize("matmul", ["torch", "openblas"])
def test_each_module_maps_its_own_ends(kind, matmul):
    comm = Communication(SEEDS, student_width=6, teacher_width=10, message_dim=3, kind=kind, matmul=matmul)
    x = {6: torch.randn(2, 4, 6), 3: torch.randn(2, 4, 3), 10: torch.randn(2, 4, 10)}
    for name, (d_in, d_out) in WIDTHS.items():
        module = getattr(comm, name)
        layers = [module] if kind == "linear" else [module.inner, module.outer]
        assert isinstance(module, StackedLinear if kind == "linear" else StackedMLP)
        assert all(layer.matmul == matmul for layer in layers), name  # as the student computes
        assert all(layer.weight.shape[0] == len(SEEDS) for layer in layers)  # one per replica
        if kind == "linear":
            assert tuple(module.weight.shape[1:]) == (d_in, d_out)
            expected = x[d_in] @ module.weight + module.bias
        else:  # Dense-ReLU-Dense, hidden width = the wider end
            hidden = max(d_in, d_out)
            assert tuple(module.inner.weight.shape[1:]) == (d_in, hidden)
            assert tuple(module.outer.weight.shape[1:]) == (hidden, d_out)
            expected = (
                torch.relu(x[d_in] @ module.inner.weight + module.inner.bias) @ module.outer.weight + module.outer.bias
            )
        assert torch.allclose(module(x[d_in]), expected, atol=1e-5), name


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_the_four_modules_draw_from_their_own_streams(kind):
    def weights(comm):  # every layer's weights, module by module (all of one shape: widths 5)
        return [[p for n, p in getattr(comm, name).named_parameters() if n.endswith("weight")] for name in WIDTHS]

    comm = Communication(SEEDS, student_width=5, teacher_width=5, message_dim=5, kind=kind)
    layers = [w for module in weights(comm) for w in module]
    assert all(not torch.equal(a, b) for i, a in enumerate(layers) for b in layers[i + 1 :])
    again = Communication(SEEDS, student_width=5, teacher_width=5, message_dim=5, kind=kind)
    assert all(torch.equal(a, b) for a, b in zip(layers, [w for m in weights(again) for w in m]))  # seeded
    assert not torch.equal(layers[0][0], layers[0][1])  # replicas differ by seed


def test_an_unknown_module_kind_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown communication module 'conv'; valid: linear, mlp"):
        make_module("conv", SEEDS, 2, 2, "s")


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_each_module_draws_from_the_stream_named_after_it(kind):
    """E_g, D_g, E_h, D_h are initialised from the streams "comm.E_g", ... of each replica's
    seed: the committed tables' numbers depend on these names (another name is another
    initialisation), and no module's draws depend on the order the others are built in."""
    comm = Communication(SEEDS, student_width=6, teacher_width=10, message_dim=3, kind=kind)
    for name, stream in zip(WIDTHS, ("comm.E_g", "comm.D_g", "comm.E_h", "comm.D_h")):
        d_in, d_out = WIDTHS[name]
        alone = (
            StackedLinear(SEEDS, d_in, d_out, stream)
            if kind == "linear"
            else StackedMLP(SEEDS, d_in, max(d_in, d_out), d_out, stream)
        )
        assert all(torch.equal(a, b) for a, b in zip(getattr(comm, name).parameters(), alone.parameters())), name
