"""Print the README's conformance table: every ported upstream behaviour (from the tests'
`upstream` marks, collected by pytest without running anything) and the unsupported ones.

    python3 -m tests.conformance.report
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conformance.unsupported import UNSUPPORTED


class _Collect:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            for mark in item.iter_markers("upstream"):
                self.rows.append((mark.kwargs["path"], mark.kwargs["name"],
                                  f"{Path(item.path).name}::{item.name}"))


def main() -> int:
    collector = _Collect()
    here = Path(__file__).parent
    code = pytest.main([str(here), "--collect-only", "-q", "-p", "no:cacheprovider"], plugins=[collector])
    if code != 0:
        return int(code)
    rows = sorted(set(collector.rows))
    conformance = sum("[Conformance]" in name for _, name, _ in rows)
    print(f"\n{len(rows)} upstream behaviours ported ({conformance} of them Conformance), "
          f"{len(UNSUPPORTED)} listed as unsupported.\n")
    print("| upstream file | upstream test | podlab test |")
    print("| --- | --- | --- |")
    for path, name, test in rows:
        print(f"| `{path}` | {name} | `{test}` |")
    print("\n| upstream file | unsupported upstream test | why |")
    print("| --- | --- | --- |")
    for path, name, why in UNSUPPORTED:
        print(f"| `{path}` | {name} | {why} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
