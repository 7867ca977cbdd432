"""`make verify-kernels` (ikd_lib/kernels.py): this machine computes the committed reference's bits
for every operation the two tracks use; and a difference is named by its first operation."""

import ikd_lib  # noqa: F401

# isort: split
import json

from ikd_lib import kernels


def test_every_operation_computes_the_reference_bits_on_this_machine(capsys):
    """Fails on a machine whose kernels round otherwise; the output names each entry's first
    differing operation (a new machine: run `make verify-kernels` and read docs/reproducibility.md)."""
    ok = kernels.check()
    out = capsys.readouterr().out
    assert ok, out
    assert out.count("same ") == len(json.loads(kernels.REFERENCE.read_text())["entries"])


def test_a_difference_is_named_by_its_first_operation():
    reference = {
        "a step": [("aten.mm", "2x3", "aaaa"), ("aten.add", "2x3", "bbbb"), ("aten.sqrt", "2", "cccc")],
        "other": [("aten.mul", "4", "dddd")],
    }
    here = {
        "a step": [("aten.mm", "2x3", "aaaa"), ("aten.add", "2x3", "bbbx"), ("aten.sqrt", "2", "cccx")],
        "other": [("aten.mul", "4", "dddd")],
    }
    lines = kernels.compare(here, reference)
    assert lines[0] == "DIFFERS  a step: first at operation 2 of 3: aten.add [2x3]"
    assert lines[1] == "same     other (1 operations)"
    assert kernels.compare({"other": reference["other"]}, reference)[0] == "MISSING  a step"
    longer = {**reference, "a step": reference["a step"] + [("aten.neg", "2", "eeee")]}
    assert "4 operations here, 3 in the reference" in kernels.compare(longer, reference)[0]


def test_the_reference_file_round_trips():
    rows = {"e": [("aten.mm", "2x3", "0123456789ab"), ("openblas.matmul", "", "ffffffff0000")]}
    assert kernels.decode(kernels.encode(rows)) == {
        "e": [("aten.mm", "2x3", "01234567"), ("openblas.matmul", "", "ffffffff")]
    }
