"""Mutated scenarios through the command line: an invalid file is exit 3 with positioned errors.

The shipped scenarios with one to four edits (``strategies.mutated_texts``)
go through `mpsim check -`; the invalid ones (most of them) must give
exit 3 and ``<stdin>:LINE:COL: error: ...`` lines whose caret lines show
no raw control character, and `mpsim run -` must agree; the ones still
valid must run (a small state limit keeps that quick). The loader's own
answer to the same bytes is checked by ``test_fuzz_loader``.
"""

from __future__ import annotations

from hypothesis import event, given

from tests.property.harness import check_error_output, check_run, invoke
from tests.property.strategies import fuzz_settings, mutated_texts

RAW_CONTROL = {chr(c) for c in range(32) if chr(c) not in "\n\t"} | {"\x7f"}


@fuzz_settings(200)
@given(mutated_texts())
def test_mutated_scenarios_are_positioned_errors_or_run(data: bytes) -> None:
    checked = invoke(["check", "-"], data)
    assert checked.code in (0, 3), checked.stderr
    if checked.code == 0:
        event("still valid")
        check_run(data, ["--max-states", "300", "--format", "json"])
        return
    event("invalid")
    check_error_output(checked.stderr, "<stdin>")
    assert not RAW_CONTROL & set(checked.stderr), repr(checked.stderr)
    run = invoke(["run", "-", "--max-states", "300"], data)
    assert run.code == 3 and run.stderr == checked.stderr and run.stdout == ""
