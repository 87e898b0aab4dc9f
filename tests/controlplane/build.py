"""Build the control plane tier's programs from their pinned Go modules (tests/controlplane/modules/).

Each program lands in a cache directory keyed by its pins (go.mod, go.sum, wrapper source), the Go version and the
link flags: a warm machine finds every binary and starts in a second; a changed pin rebuilds only its own programs;
an interrupted build resumes with the program it had not finished (each binary is written whole, then renamed).

    python -m tests.controlplane.build            # build what is missing, with progress per program
    python -m tests.controlplane.build --print    # where each binary is (no build)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MODULES = Path(__file__).resolve().parent / "modules"
CACHE_VARIABLE = "CATTLE_CONTROLPLANE_CACHE"
# A fixed build date keeps the binaries reproducible; the version string is what kubectl and cattle read.
BUILD_DATE = "2026-01-01T00:00:00Z"


@dataclass(frozen=True)
class Program:
    """One binary: the wrapper module it is built in, its Go package, and the module whose version it reports."""

    name: str
    module: str  # directory under modules/
    package: str  # Go package path; "." for the wrapper's own main
    upstream: str  # the module whose required version is the program's version

    def version(self) -> str:
        return required_version(MODULES / self.module / "go.mod", self.upstream)

    def ldflags(self) -> list[str]:
        """`-X` flags naming the version, as upstream's release builds set them."""
        if self.upstream != "k8s.io/kubernetes":
            return []
        version = self.version()
        major, minor = version.lstrip("v").split(".")[:2]
        flags = []
        for key, value in (("gitVersion", version), ("gitMajor", major), ("gitMinor", minor),
                           ("gitTreeState", "clean"), ("buildDate", BUILD_DATE)):
            for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
                flags.append(f"-X {package}.{key}={value}")
        return flags


PROGRAMS = (
    Program("etcd", "etcd", ".", "go.etcd.io/etcd/server/v3"),
    Program("kube-apiserver", "kubernetes", "k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes"),
    Program("kube-controller-manager", "kubernetes", "k8s.io/kubernetes/cmd/kube-controller-manager",
            "k8s.io/kubernetes"),
    Program("kube-scheduler", "kubernetes", "k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes"),
    Program("kwok", "kwok", "sigs.k8s.io/kwok/cmd/kwok", "sigs.k8s.io/kwok"),
    Program("source-controller", "flux-source", "github.com/fluxcd/source-controller",
            "github.com/fluxcd/source-controller"),
    Program("kustomize-controller", "flux-kustomize", "github.com/fluxcd/kustomize-controller",
            "github.com/fluxcd/kustomize-controller"),
    Program("helm-controller", "flux-helm", "github.com/fluxcd/helm-controller", "github.com/fluxcd/helm-controller"),
    Program("notification-controller", "flux-notification", "github.com/fluxcd/notification-controller",
            "github.com/fluxcd/notification-controller"),
)


def required_version(go_mod: Path, module: str) -> str:
    """The version `go_mod` requires of `module`."""
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod.read_text(), re.MULTILINE)
    if not match:
        raise SystemExit(f"{go_mod} requires no {module}")
    return match.group(1)


def cache_root() -> Path:
    override = os.environ.get(CACHE_VARIABLE)
    return Path(override) if override else Path.home() / ".cache" / "cattle-controlplane"


def go_version() -> str:
    go = shutil.which("go")
    if go is None:
        raise SystemExit("the control plane tier is built with Go (1.26), and `go` is not on PATH: install Go, "
                         "then run ./scripts/setup --test again")
    return subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()


def key(program: Program, go: str) -> str:
    """What the binary depends on: the wrapper module's files, the Go version, the package and the link flags."""
    digest = hashlib.sha256(f"{go}\n{program.package}\n{program.ldflags()}\n".encode())
    for path in sorted((MODULES / program.module).iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def binary(program: Program, go: str) -> Path:
    return cache_root() / f"{program.name}-{program.version()}-{key(program, go)}" / program.name


def binaries() -> dict[str, Path]:
    """Every program's cached binary; raises with what to run when one is missing."""
    go = go_version()
    found = {program.name: binary(program, go) for program in PROGRAMS}
    missing = [name for name, path in found.items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"control plane programs not built yet: {', '.join(missing)}; build them with "
                                "./scripts/setup --test (or python -m tests.controlplane.build)")
    return found


def say(message: str) -> None:
    print(f"[controlplane] {message}", file=sys.stderr, flush=True)


def build(program: Program, go: str) -> tuple[Path, float | None]:
    """Build one program unless its binary is cached; returns the binary and the seconds spent (None: cached)."""
    target = binary(program, go)
    if target.is_file():
        return target, None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{program.name}.partial")
    started = time.monotonic()
    argv = ["go", "build", "-trimpath", "-o", str(partial),
            "-ldflags", " ".join(["-s", "-w", *program.ldflags()]), program.package]
    env = {**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false", "CGO_ENABLED": "0"}
    result = subprocess.run(argv, cwd=MODULES / program.module, env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise SystemExit(f"building {program.name} failed (exit {result.returncode}):\n{result.stderr[-4000:]}"
                         "\nrun ./scripts/setup --test again to resume")
    partial.replace(target)
    return target, time.monotonic() - started


def build_all(names: list[str] | None = None) -> dict[str, Path]:
    go = go_version()
    chosen = [p for p in PROGRAMS if not names or p.name in names]
    todo = [p for p in chosen if not binary(p, go).is_file()]
    if todo:
        say(f"building {len(todo)} of {len(chosen)} programs with {go} into {cache_root()} "
            "(about 17 minutes on a cold 2-core machine; an interrupted build resumes)")
    started = time.monotonic()
    built: dict[str, Path] = {}
    for index, program in enumerate(chosen, 1):
        if program in todo:
            say(f"[{index}/{len(chosen)}] {program.name} {program.version()} ...")
        path, seconds = build(program, go)
        if seconds is not None:
            size = path.stat().st_size / 1e6
            say(f"[{index}/{len(chosen)}] {program.name} {program.version()}: built in {seconds:.0f}s ({size:.0f} MB)")
        built[program.name] = path
    if todo:
        say(f"control plane ready in {time.monotonic() - started:.0f}s")
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="print where each binary is; build nothing")
    parser.add_argument("programs", nargs="*", help="only these programs (default: all)")
    args = parser.parse_args(argv)
    if args.print:
        go = go_version()
        for program in PROGRAMS:
            path = binary(program, go)
            print(f"{program.name:24} {program.version():10} {path}{'' if path.is_file() else '  (not built)'}")
        return 0
    build_all(args.programs or None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
