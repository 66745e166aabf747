"""The build step `sam build` runs for the layer and the functions (``BuildMethod: makefile``).

    python3 sam_build.py layer <ARTIFACTS_DIR>      # SharedLayer: lands in /opt/python
    python3 sam_build.py function <ARTIFACTS_DIR>   # a function: lands in /var/task

SAM copies the resource's source folder to a scratch directory, runs the Makefile target there
(the working directory) and deploys what lands in ``ARTIFACTS_DIR``. So ``sam build`` alone, with
or without ``--use-container``, gives the artifacts that ship; nothing runs after it. Standard
library only: the build container has python3 and pip, nothing else of ours.

Layer: pip installs ``requirements.txt`` (pinned) for Lambda's platform, copies the project's
packages beside it and the routing rules (``routing.json``, generated from the repository's
``routing.yaml`` and kept in sync by ``make check-routing``: no YAML parser here), removes what
``prune.txt`` lists, precompiles. Function: copies its code,
installs its own requirements if it has any, precompiles.

Why precompile: Lambda cannot write ``__pycache__`` into /opt or /var/task, so without bytecode
every cold start compiles every module it imports (about a quarter of the init, TIPS.md).
``unchecked-hash``: zip keeps 2-second mtimes, which can invalidate timestamp-based pycs; a
hash-based pyc is valid whatever the mtime, and unchecked skips even hashing the source.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

# What Lambda runs (template.yaml: Runtime python3.11, Architectures arm64): the bytecode's magic
# number must match the runtime's CPython, and compiled wheels (none today) its machine.
RUNTIME = (3, 11)
PIP_PLATFORM = ("--platform", "manylinux2014_aarch64", "--implementation", "cp")
PRUNE_FILE = Path(__file__).with_name("prune.txt")
# The routing rules beside this file, and where alert_service.routing.loader reads them in Lambda.
ROUTING_FILE = "routing.json"
SHIPPED_ROUTING = Path("alert_service") / "routing" / "routing.json"
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


def pip_install(requirements: Path, target: Path) -> None:
    """Install the pinned requirements as wheels built for Lambda's platform, into ``target``.

    --no-compile: pip would write timestamp pycs, which precompile() replaces anyway.
    """
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        "--no-compile",
        "--target",
        str(target),
        *PIP_PLATFORM,
        "--python-version",
        f"{RUNTIME[0]}.{RUNTIME[1]}",
        "--only-binary=:all:",
        "--requirement",
        str(requirements),
    ]
    subprocess.run(command, check=True)  # noqa: S603 - a fixed command, no shell


def has_requirements(path: Path) -> bool:
    if not path.is_file():
        return False
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return any(lines)


def prune_rules(path: Path = PRUNE_FILE) -> list[str]:
    """Glob patterns, relative to the layer's python/, one a line; ``#`` starts a comment."""
    rules = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [rule for rule in rules if rule]


def prune(python: Path, rules: list[str]) -> list[str]:
    """Remove what each rule matches; returns the rules that matched nothing (stale)."""
    stale = []
    for rule in rules:
        matches = sorted(python.glob(rule))
        if not matches:
            stale.append(rule)
        for path in matches:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    return stale


def precompile(directory: Path) -> None:
    """Every .py under ``directory`` gets an unchecked-hash pyc, replacing any there was."""
    ok = compileall.compile_dir(
        directory,
        quiet=1,
        force=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise SystemExit(f"compiling {directory} failed (see above)")


def build_layer(source: Path, artifacts: Path) -> None:
    python = artifacts / "python"
    python.mkdir(parents=True, exist_ok=True)
    if has_requirements(source / "requirements.txt"):
        pip_install(source / "requirements.txt", python)
    # Every package of the source folder (alert_service), not the build files beside them.
    for package in sorted(p for p in source.iterdir() if (p / "__init__.py").is_file()):
        shutil.copytree(package, python / package.name, ignore=SKIP, dirs_exist_ok=True)
    ship_routing(source / ROUTING_FILE, python)
    stale = prune(python, prune_rules())
    for rule in stale:
        print(f"prune.txt: {rule!r} matched nothing (stale rule?)", file=sys.stderr)
    precompile(python)


def ship_routing(rules: Path, python: Path) -> None:
    """Copy the routing rules into the package, after checking they are JSON (the full check ran
    in ``make check-routing``); no file: every alarm takes the default route."""
    if not rules.is_file():
        return
    import json

    text = rules.read_text(encoding="utf-8")
    try:
        json.loads(text)
    except ValueError as error:
        raise SystemExit(f"{rules}: not JSON ({error}); run `make routing`") from None
    (python / SHIPPED_ROUTING).write_text(text, encoding="utf-8")


def build_function(source: Path, artifacts: Path) -> None:
    artifacts.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, artifacts, ignore=SKIP, dirs_exist_ok=True)
    if has_requirements(source / "requirements.txt"):
        pip_install(source / "requirements.txt", artifacts)
    precompile(artifacts)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("layer", "function"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    if sys.version_info[:2] != RUNTIME:
        # Lambda's 3.11 ignores another version's pycs and compiles again at every cold start.
        found = ".".join(map(str, sys.version_info[:3]))
        print(f"sam_build.py needs Python 3.11 (Lambda's runtime), not {found}", file=sys.stderr)
        return 1
    kind, artifacts = argv[0], Path(argv[1]).resolve()
    build = build_layer if kind == "layer" else build_function
    build(Path.cwd(), artifacts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
