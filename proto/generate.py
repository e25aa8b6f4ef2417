"""Regenerate podlab/v1/*_pb2*.py from proto/, or check they are current.

    python proto/generate.py          # write the generated code
    python proto/generate.py --check  # exit 1 when the committed code drifted
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
GENERATED_PACKAGE = Path("podlab") / "v1"


def generate(out: Path) -> None:
    sources = sorted(str(p.relative_to(PROTO_DIR)) for p in (PROTO_DIR / GENERATED_PACKAGE).glob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    args = ["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out}", f"--pyi_out={out}",
            f"--grpc_python_out={out}", *sources]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    (out / GENERATED_PACKAGE / "__init__.py").touch()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    args = parser.parse_args()
    if not args.check:
        generate(ROOT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh, committed = Path(tmp) / GENERATED_PACKAGE, ROOT / GENERATED_PACKAGE
        names = sorted(p.name for p in fresh.iterdir())
        _, mismatch, missing = filecmp.cmpfiles(fresh, committed, names, shallow=False)
        if mismatch or missing:
            print(f"generated code is stale: {mismatch + missing}; run python proto/generate.py",
                  file=sys.stderr)
            return 1
    print("generated code is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
