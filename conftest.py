"""pytest and the compiled modules (mempool_cli/native.py's ``MODULES``).

An edit to one of them leaves its extension in place, and the extension is
what imports: the tests would check the code as it was. So an in-tree
build older than its sources is refused (``make test`` rebuilds first; a
bare pytest says so). Their sources are not collected for doctests: a
compiled module is not the file pytest would read the examples from, and
they hold none (tests/unit/test_native.py).
"""

from __future__ import annotations

import pytest

from mempool_cli import native

collect_ignore = list(native.MODULES)


def pytest_configure(config: pytest.Config) -> None:
    old = native.stale()
    if old:
        raise pytest.UsageError(
            f"the compiled {', '.join(old)} is older than its source: run `make .venv/.installed` "
            "(or `make test`), or delete the *.so files to test the Python source"
        )
