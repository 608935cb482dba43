"""A long-lived `mpsim` for the hash-seed property: one JSON request a line, one answer a line.

Started with a given PYTHONHASHSEED by ``test_fuzz_valid``; a fresh
interpreter per example would cost more than the example itself. Each
request is ``{"args": [...], "input": TEXT}``; each answer is
``{"code": N, "stdout": TEXT}``.
"""

from __future__ import annotations

import json
import sys

from click.testing import CliRunner

from mempool_cli.cli import cli


def main() -> None:
    runner = CliRunner()
    for line in sys.stdin:
        request = json.loads(line)
        result = runner.invoke(cli, request["args"], input=request["input"])
        answer = {"code": result.exit_code, "stdout": result.stdout}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
