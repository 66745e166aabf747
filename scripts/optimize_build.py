"""Post-process `sam build` output for cold start and size (run by `make build`).

1. Drop the parts of Powertools no function imports. The layer must stay under 2.5 MB zipped
   (issue 2), and these are half of it: REST/GraphQL routing, the pydantic parser, batch, streaming,
   and other utilities an SNS consumer never loads. tests/build runs every sample event through
   every built function, so an import of a pruned module would fail there, as in Lambda.
2. Precompile everything left, layer and functions. Lambda cannot write __pycache__ into /opt or
   /var/task, so without this every cold start compiles every imported module (about a quarter of
   init, TIPS.md). unchecked-hash: zip keeps 2-second mtimes, which can invalidate
   timestamp-based pycs; a hash-based pyc is valid whatever the mtime.

Usage: python scripts/optimize_build.py [.aws-sam/build]
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import sys
from pathlib import Path

LAYER = "SharedLayer"
UNUSED_POWERTOOLS = (
    "event_handler",
    "utilities/auth_alpha",
    "utilities/batch",
    "utilities/circuit_breaker",
    "utilities/data_classes",
    "utilities/data_masking",
    "utilities/feature_flags",
    "utilities/kafka",
    "utilities/metadata",
    "utilities/parser",
    "utilities/streaming",
    "utilities/validation",
)


def prune(layer_python: Path) -> int:
    removed = 0
    for relative in UNUSED_POWERTOOLS:
        path = layer_python / "aws_lambda_powertools" / relative
        if path.is_dir():
            shutil.rmtree(path)
            removed += 1
    return removed


def precompile(directory: Path) -> bool:
    return compileall.compile_dir(
        directory,
        quiet=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )


def main(argv: list[str]) -> int:
    build = Path(argv[0] if argv else ".aws-sam/build")
    layer_python = build / LAYER / "python"
    if not layer_python.is_dir():
        print(f"{layer_python} not found: run sam build first", file=sys.stderr)
        return 1
    removed = prune(layer_python)
    # A list, not all(generator): every directory is compiled (and its errors shown) even after one
    # fails.
    results = [precompile(path) for path in sorted(build.iterdir()) if path.is_dir()]
    ok = all(results)
    print(f"optimized {build}: pruned {removed} unused Powertools packages, precompiled the rest")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
