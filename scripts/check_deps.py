"""Fail when an import is not covered by a dependency pyproject.toml declares.

    .venv/bin/python scripts/check_deps.py      # run-tests.sh runs it; exit 1 lists every problem

Two scopes, read from the source's AST (nothing is imported):
- installed code (the packages of [tool.setuptools.packages.find], and compose/healthcheck.py,
  which runs in the lab image's venv) may import the standard library, those packages, and
  what [project].dependencies declares: a user's `pip install podlab` gets nothing else;
- checkout code (tests/, bench/, scripts/, proto/) may also import the `dev` extra, and its own
  directories' modules (tests, bench, scripts/*.py, a conftest or helper module beside the
  importing file).

An import name maps to distributions through importlib.metadata.packages_distributions() of the
interpreter that runs this, so run it with the project's venv: a fresh venv holds what the
declarations pulled in, and nothing a machine happened to carry. Also a failure: a declared
dependency that nothing imports, unless [tool.podlab.check-deps] not-imported says why.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from project import ROOT, Project, load, normalize  # noqa: E402

CHECKOUT_DIRS = ("tests", "bench", "scripts", "proto")
INSTALLED_EXTRA_FILES = ("compose/healthcheck.py",)
DEV_EXTRA = "dev"


@dataclass(frozen=True)
class Import:
    """One absolute import statement's module, as written (`google.protobuf.json_format`)."""

    module: str
    path: Path
    line: int

    @property
    def top(self) -> str:
        return self.module.split(".", 1)[0]


@dataclass(frozen=True)
class Problem:
    path: Path | None
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}: " if self.path else ""
        return where + self.message


def imports_in(path: Path) -> Iterator[Import]:
    """Every absolute import in the Python file `path` (relative ones stay inside a package)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, path, node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield Import(node.module, path, node.lineno)


def python_files(root: Path, names: Iterable[str]) -> Iterator[Path]:
    for name in names:
        target = root / name
        if target.is_file():
            yield target
        elif target.is_dir():
            yield from sorted(p for p in target.rglob("*.py") if "__pycache__" not in p.parts)


def is_local_module(top: str, path: Path, root: Path) -> bool:
    """True when `top` is a module or package beside `path` or in a directory above it, up to
    `root`: what pytest's rootdir insertion and `python -m` from the checkout make importable."""
    directory = path.resolve().parent
    root = root.resolve()
    while True:
        if (directory / f"{top}.py").is_file() or (directory / top / "__init__.py").is_file():
            return True
        if directory == root or root not in directory.parents:
            return False
        directory = directory.parent


def providers(module: str, dists_of: Mapping[str, list[str]]) -> set[str]:
    """The normalized names of the installed distributions that provide `module`.

    A namespace package (`google`) has several: those whose files hold the module's next part
    (`google/protobuf`) are kept, so `google.protobuf` is not taken as covered by another
    `google.*` distribution."""
    parts = module.split(".")
    found = {normalize(d) for d in dists_of.get(parts[0], [])}
    if len(found) > 1 and len(parts) > 1:
        prefix = "/".join(parts[:2])
        narrowed = set()
        for dist in found:
            try:
                files = metadata.distribution(dist).files or []
            except metadata.PackageNotFoundError:
                continue
            if any(str(f).startswith((prefix + "/", prefix + ".")) for f in files):
                narrowed.add(dist)
        found = narrowed or found
    return found


def check_imports(imports: Iterable[Import], *, first_party: set[str], allowed: set[str],
                  dev_only: set[str], dists_of: Mapping[str, list[str]], root: Path,
                  installed: bool) -> tuple[list[Problem], set[str]]:
    """Problems with `imports`, and the declared distributions they use.

    `allowed` are the distributions this scope may import; `dev_only` those only the dev extra
    declares (named in the message when installed code imports one)."""
    problems: list[Problem] = []
    used: set[str] = set()
    for imp in imports:
        top = imp.top
        if top in sys.stdlib_module_names or top in first_party:
            continue
        if not installed and is_local_module(top, imp.path, root):
            continue
        where = imp.path.relative_to(root) if imp.path.is_relative_to(root) else imp.path
        if installed and ((root / top / "__init__.py").is_file() or (root / f"{top}.py").is_file()):
            problems.append(Problem(where, imp.line, f"import {imp.module!r}: {top!r} is in the checkout "
                                    "but not an installed package; a user's install does not have it"))
            continue
        dists = providers(imp.module, dists_of)
        if not dists:
            problems.append(Problem(where, imp.line, f"import {imp.module!r}: no installed distribution "
                                    "provides it; declare the one that does in pyproject.toml"))
            continue
        covered = dists & allowed
        if covered:
            used |= covered
        elif installed and dists & dev_only:
            problems.append(Problem(where, imp.line, f"import {imp.module!r} (from {', '.join(sorted(dists))}) "
                                    f"is installed code, but only the {DEV_EXTRA!r} extra declares it: "
                                    "move it to [project].dependencies"))
        else:
            scope = "[project].dependencies" if installed else f"[project].dependencies or the {DEV_EXTRA!r} extra"
            problems.append(Problem(where, imp.line, f"import {imp.module!r} is not covered by a declared "
                                    f"dependency: add {' or '.join(sorted(dists))} to {scope}"))
    return problems, used


def check(project: Project, root: Path, dists_of: Mapping[str, list[str]]) -> list[Problem]:
    """Every problem with the imports of the checkout at `root` against `project`'s declarations."""
    runtime = set(project.runtime)
    dev = set(project.extras.get(DEV_EXTRA, frozenset()))
    first_party = set(project.packages)
    installed_files = list(python_files(root, [*project.packages, *INSTALLED_EXTRA_FILES]))
    problems, used = check_imports(
        (imp for f in installed_files for imp in imports_in(f)), first_party=first_party,
        allowed=runtime, dev_only=dev - runtime, dists_of=dists_of, root=root, installed=True)
    checkout_files = list(python_files(root, CHECKOUT_DIRS))
    more, used_too = check_imports(
        # scripts/*.py import each other, and tests import them, with scripts/ on sys.path.
        (imp for f in checkout_files for imp in imports_in(f)),
        first_party=first_party | set(CHECKOUT_DIRS) | {p.stem for p in (root / "scripts").glob("*.py")},
        allowed=runtime | dev, dev_only=set(), dists_of=dists_of, root=root, installed=False)
    problems += more
    for name in sorted((runtime | dev) - used - used_too - set(project.not_imported)):
        where = "[project].dependencies" if name in runtime else f"the {DEV_EXTRA!r} extra"
        problems.append(Problem(None, 0, f"{name} is declared in {where} but nothing imports it: remove it, "
                                "or say why in [tool.podlab.check-deps] not-imported"))
    for name in sorted(set(project.not_imported) - runtime - dev):
        problems.append(Problem(None, 0, f"[tool.podlab.check-deps] not-imported names {name}, "
                                "which is not declared"))
    return problems


def main() -> int:
    project = load(ROOT / "pyproject.toml")
    problems = check(project, ROOT, metadata.packages_distributions())
    for problem in problems:
        print(problem)
    if problems:
        print(f"check-deps: {len(problems)} problem(s) (interpreter {sys.executable})")
        return 1
    print(f"check-deps: every import is declared ({len(project.runtime)} runtime, "
          f"{len(project.extras.get(DEV_EXTRA, ()))} dev dependencies; interpreter {sys.executable})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
