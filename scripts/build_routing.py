"""Check routing files, and convert routing.yaml to the JSON the layer ships (issue 13).

The layer reads its rules with ``json`` (no YAML parser in the layer: see README, Routing), so the
build converts the repository's ``routing.yaml`` after checking it with the layer's own checker and
with the JSON Schema (``jsonschema``, tools venv). A bad file stops the build with ``file:line:``
messages, never an invocation in Lambda.

The layer's build (``layers/shared/sam_build.py``, run by ``sam build`` in a copy of
``layers/shared`` with the standard library only) cannot read the repository's YAML, so the JSON it
ships is kept in the repository beside it, generated from ``routing.yaml``: ``layers/shared/
routing.json``. ``--check`` fails when that file is not what ``routing.yaml`` converts to, and
``make build`` runs ``--check`` first, so a plain ``sam build`` ships exactly the reviewed rules.

Usage:
  python scripts/build_routing.py --check [FILE ...]     # default: every routing*.yaml in the repo
                                                          # and the layer's routing.json in sync
  python scripts/build_routing.py --sync            # routing.yaml -> layers/shared/routing.json
  python scripts/build_routing.py --out <layer python dir> [--source routing.yaml]
      writes <dir>/alert_service/routing/routing.json (a missing source writes nothing: the
      default route only). For the SAM build: --out .aws-sam/build/SharedLayer/python, or in a
      makefile build: --out "$(ARTIFACTS_DIR)/python".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "shared"))

from alert_service.routing.loader import RoutingFileError, compile_table, parse_text  # noqa: E402

SCHEMA = ROOT / "layers" / "shared" / "alert_service" / "routing" / "routing.schema.json"
SHIPPED_NAME = Path("alert_service") / "routing" / "routing.json"
# What sam_build.py copies into the built layer as SHIPPED_NAME (absent: the default route only).
LAYER_COPY = ROOT / "layers" / "shared" / "routing.json"
# Folders that hold other people's files or build output, never our routing files.
SKIP_DIRS = {".git", ".aws-sam", "node_modules", "demo-output"}


def routing_files(root: Path = ROOT) -> list[Path]:
    """Every routing file of the repository: ``routing*.yaml``/``.yml`` outside venvs and builds."""
    found = []
    for pattern in ("routing*.yaml", "routing*.yml"):
        for path in root.rglob(pattern):
            parts = path.relative_to(root).parts
            if any(p in SKIP_DIRS or p.startswith(".venv") for p in parts):
                continue
            found.append(path)
    return sorted(found)


def schema_problems(data: Any, lines: dict[Any, int], source: str) -> list[str]:
    """The JSON Schema's verdict, as ``file:line: path: message`` (jsonschema: tools venv only)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    out = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = tuple(error.path)
        line = None
        while line is None:
            line = lines.get(path)
            if not path:
                break
            path = path[:-1]
        where = ".".join(map(str, error.path)) or "(top)"
        out.append(f"{source}:{line or '?'}: {where}: {error.message} (schema)")
    return out


def check_file(path: Path) -> list[str]:
    """Problems of one routing file (checker, then schema), as lines for a person; [] when valid."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        return [f"{path}: cannot be read ({error.strerror})"]
    try:
        data, lines = parse_text(text, str(path))
    except RoutingFileError as error:
        return str(error).splitlines()
    # The checker accepted it: the schema must agree (a disagreement is a bug in one of them).
    return schema_problems(data, lines, str(path))


def as_json(source: Path) -> str:
    """``source`` checked and converted: the text the layer reads."""
    data, _ = parse_text(source.read_text(encoding="utf-8"), str(source))
    compile_table(data, str(source))  # what the layer will do with it, once, here
    return json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n"


def convert(source: Path, out_dir: Path) -> Path | None:
    """Check ``source`` and write it as JSON into the built layer; None when there is no source."""
    if not source.exists():
        return None
    text = as_json(source)  # before anything is written: a bad file leaves no output
    target = out_dir / SHIPPED_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, "utf-8")
    return target


def sync_problems(source: Path = ROOT / "routing.yaml", copy: Path = LAYER_COPY) -> list[str]:
    """Why the layer's routing.json is not ``source`` converted ([] when it is)."""
    fix = "run `make routing` and commit it"
    if not source.exists():
        return [f"{copy}: {source.name} is gone; remove it ({fix})"] if copy.exists() else []
    if not copy.exists():
        return [f"{copy}: missing, so the layer would ship no rules ({fix})"]
    if copy.read_text(encoding="utf-8") != as_json(source):
        return [f"{copy}: not what {source.name} converts to ({fix})"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check files, write nothing")
    parser.add_argument("--sync", action="store_true", help="write layers/shared/routing.json")
    parser.add_argument("--out", type=Path, help="the built layer's python/ directory")
    parser.add_argument("--source", type=Path, default=ROOT / "routing.yaml")
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if [args.check, args.sync, bool(args.out)].count(True) != 1:
        parser.error("give exactly one of --check, --sync or --out")
    if args.sync:
        try:
            text = as_json(args.source)
        except RoutingFileError as error:
            print(error, file=sys.stderr)
            return 1
        LAYER_COPY.write_text(text, "utf-8")
        print(f"routing: {LAYER_COPY} written from {args.source}")
        return 0
    if args.check:
        files = args.files or routing_files()
        problems = [line for path in files for line in check_file(path)]
        if not args.files and not problems:
            problems = sync_problems(args.source)
        for line in problems:
            print(line, file=sys.stderr)
        if not problems:
            print(f"routing: {len(files)} file(s) valid: {', '.join(str(f) for f in files)}")
        return 1 if problems else 0
    try:
        target = convert(args.source, args.out)
    except RoutingFileError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"routing: {target or 'no routing file, default route only'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
