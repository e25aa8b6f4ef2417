"""What pyproject.toml says the project is, for the shell scripts and the dependency check.

    python3 scripts/project.py packages          # the installed top-level packages, one a line
    python3 scripts/project.py copy-sources DIR  # what a wheel is built from, copied into DIR

pyproject.toml is the one list of the installed packages: build-image.sh builds the lab
image's wheel from `copy-sources`, run-tests.sh runs mypy over `packages`, and
scripts/check_deps.py checks their imports. Only the standard library is used, so any
Python 3.11 runs this, inside the project's venv or not.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Beside the packages, what setuptools reads to build the wheel (the readme is its long description).
BUILD_FILES = ("pyproject.toml", "README.md", "LICENSE")

_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def normalize(name: str) -> str:
    """A distribution name in its PEP 503 normal form: `PyYAML` -> `pyyaml`, `a_b.c` -> `a-b-c`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The normalized distribution name of a PEP 508 requirement (`docker>=7.1,<8` -> `docker`).

    Raises ValueError for a string that does not start with a name."""
    found = _NAME.match(requirement)
    if not found:
        raise ValueError(f"not a requirement: {requirement!r}")
    return normalize(found.group(1))


@dataclass(frozen=True)
class Project:
    """The parts of pyproject.toml the scripts use. Distribution names are normalized."""

    packages: tuple[str, ...]
    runtime: frozenset[str]
    extras: dict[str, frozenset[str]] = field(default_factory=dict)
    # Declared dependencies no module imports (a bundled binary, a pytest plugin, a tool run with -m),
    # each with the reason: [tool.podlab.check-deps] not-imported.
    not_imported: dict[str, str] = field(default_factory=dict)


def load(pyproject: Path = ROOT / "pyproject.toml") -> Project:
    """Read `pyproject`; KeyError when it has no [project] table or no package include list."""
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    include = data["tool"]["setuptools"]["packages"]["find"]["include"]
    # "podlab*" means podlab and its subpackages: the top-level package is the part before the "*".
    packages = tuple(dict.fromkeys(pattern.rstrip("*").rstrip(".") for pattern in include))
    extras = {name: frozenset(map(requirement_name, reqs))
              for name, reqs in project.get("optional-dependencies", {}).items()}
    check = data.get("tool", {}).get("podlab", {}).get("check-deps", {})
    not_imported = {normalize(name): why for name, why in check.get("not-imported", {}).items()}
    return Project(packages, frozenset(map(requirement_name, project.get("dependencies", []))),
                   extras, not_imported)


def copy_sources(dest: Path, root: Path = ROOT) -> None:
    """Copy what the wheel is built from into `dest` (made if missing), without __pycache__.

    Building from a copy keeps setuptools' build/ and *.egg-info out of the checkout, and a
    stale build/ from smuggling deleted modules into the wheel."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in BUILD_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in load(root / "pyproject.toml").packages:
        shutil.copytree(root / package, dest / package, ignore=ignore, dirs_exist_ok=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["packages"] and len(argv) == 1:
        print("\n".join(load().packages))
        return 0
    if argv[:1] == ["copy-sources"] and len(argv) == 2:
        copy_sources(Path(argv[1]))
        return 0
    print("usage: project.py packages | copy-sources DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
