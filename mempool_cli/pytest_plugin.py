"""pytest plugin: ``pytest --mpsim DIR`` runs each scenario under each kernel as a test.

One test item per (scenario file, kernel preset), named ``FILE::KERNEL``.
An item passes when the search is complete and its outcome set is what
the file's ``expect`` says for that preset (``ok`` when it says nothing,
as in ``mpsim run`` and ``mpsim matrix``); a failing item's message is
the report ``mpsim run`` prints, plain, at 80 columns. An invalid file is
a collection error that shows every problem with its position. Without
``--mpsim`` the plugin collects nothing.

    pytest --mpsim scenarios/                        every preset
    pytest --mpsim scenarios/ --mpsim-kernel latest  one preset
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mempool_cli.scenario.kernels import Kernel
    from mempool_cli.scenario.spec import Scenario


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mpsim", "mpsim scenarios as tests")
    group.addoption(
        "--mpsim",
        action="store_true",
        default=False,
        help="Collect *.yaml scenario files: one test per (scenario, kernel preset).",
    )
    group.addoption(
        "--mpsim-kernel",
        action="append",
        default=[],
        metavar="PRESET",
        help="Only this kernel preset (repeat for several) [default: every preset].",
    )
    group.addoption(
        "--mpsim-max-seconds",
        type=float,
        default=None,
        metavar="S",
        help="Time limit per search; a search cut short fails its test.",
    )


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if not parent.config.getoption("mpsim"):
        return None
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class MpsimFailure(Exception):
    """A scenario run that did not give what the file expects; carries the report."""


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from mempool_cli.scenario.kernels import PRESET_NAMES
        from mempool_cli.scenario.loader import load_scenario
        from mempool_cli.verdict import kernels_for

        scenario = load_scenario(str(self.path))
        names = self.config.getoption("mpsim_kernel") or list(PRESET_NAMES)
        for kernel in kernels_for(scenario, names, False):
            yield ScenarioItem.from_parent(self, name=kernel.name, scenario=scenario, kernel=kernel)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from mempool_cli.errors import MpsimError

        if isinstance(excinfo.value, MpsimError):  # an invalid file: its problems, no traceback
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, kernel: Kernel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.kernel = kernel

    def runtest(self) -> None:
        from mempool_cli import render
        from mempool_cli.verdict import Limits, run_scenario

        limits = Limits(max_seconds=self.config.getoption("mpsim_max_seconds"))
        result = run_scenario(self.scenario, self.kernel, limits)
        if not result.passed:
            style = render.Style(color=False, width=80, plain=True)
            raise MpsimFailure(render.run_report([result], style=style))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, MpsimFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.scenario.name} under {self.kernel.name}"
