"""opentofu: create a cloud environment's cluster from code (infra/<env>/) as bootstrap's cluster phase.

`tofu init` points the state at the environment's off-site backup bucket (locked by a lock file next to it), the
inputs come from the environment file, and the plan is applied only when it changes something: a re-run on an
existing cluster is a no-op. Progress is condensed from `tofu apply -json`: one line per resource, then the summary.
The kubeconfig comes from the configuration's `kubeconfig` output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from cattle import console, tools
from cattle.env import Environment
from cattle.errors import ProviderError, ToolError

TOFU_VERSION = "1.12.6"
KUBECONFIG_OUTPUT = "kubeconfig"
INTERFACE_OUTPUTS = ("api_endpoint", "ca_certificate", "kubeconfig", "load_balancer_address")


@dataclass(frozen=True)
class PlanSummary:
    """What `tofu plan` would do."""

    add: int
    change: int
    destroy: int

    @property
    def changes(self) -> bool:
        return bool(self.add or self.change or self.destroy)

    def __str__(self) -> str:
        if not self.changes:
            return "no changes: the cluster is as declared"
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"


def backend_config(env: Environment) -> str:
    """The S3 backend settings (HCL): the bucket of the environment's Vault store, its off-site backup bucket."""
    store = urlparse(env.backups.vault_store)
    if store.scheme != "s3" or not store.netloc:
        raise ProviderError(f"{env.name}: the opentofu provider keeps its state in the environment's backup bucket, "
                            f"but backups.vault is {env.backups.vault_store}", "set backups.vault to s3://BUCKET/...")
    region = os.environ.get("AWS_REGION", "us-east-1")
    lines = [f"bucket = {json.dumps(store.netloc)}", f"region = {json.dumps(region)}"]
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:  # an S3-compatible store: path-style addressing, no AWS-only checks
        lines += [f"endpoints = {{ s3 = {json.dumps(endpoint)} }}", "use_path_style = true",
                  "skip_credentials_validation = true", "skip_region_validation = true",
                  "skip_requesting_account_id = true"]
    return "\n".join(lines) + "\n"


def parse_events(lines: list[str], on_event: Callable[[str], None] | None = None) -> tuple[PlanSummary | None,
                                                                                       list[str]]:
    """`tofu ... -json` lines: the change summary and the error diagnostics (each progress line to `on_event`)."""
    summary, errors = None, []
    for line in lines:
        try:
            event: dict[str, Any] = json.loads(line)
        except ValueError:
            continue
        kind = event.get("type")
        if kind == "change_summary":
            changes = event.get("changes") or {}
            summary = PlanSummary(int(changes.get("add", 0)), int(changes.get("change", 0)),
                                  int(changes.get("remove", 0)))
        elif kind == "diagnostic" and (event.get("diagnostic") or {}).get("severity") == "error":
            diagnostic = event["diagnostic"]
            errors.append(f"{diagnostic.get('summary', '')}: {diagnostic.get('detail', '')}".strip(": "))
        elif kind == "apply_complete" and on_event is not None:
            hook = event.get("hook") or {}
            address = (hook.get("resource") or {}).get("addr", "?")
            on_event(f"  ✓ {address} {hook.get('action', '')} ({hook.get('elapsed_seconds', 0)}s)")
        elif kind == "apply_errored" and on_event is not None:
            on_event(f"  ✗ {((event.get('hook') or {}).get('resource') or {}).get('addr', '?')}")
    return summary, errors


@dataclass
class OpenTofuProvider:
    env: Environment
    state: Path
    name: str = "opentofu"
    creates_clusters: bool = True
    docker_network: None = None

    @property
    def directory(self) -> Path:
        return self.env.root / "infra" / self.env.name

    @property
    def _kubeconfig_path(self) -> Path:
        return self.state / f"opentofu-{self.env.name}.kubeconfig"

    def _tofu(self, *args: str, check: bool = True, timeout: float = 1800) -> tuple[int, list[str]]:
        proc = tools.run(["tofu", f"-chdir={self.directory}", *args], check=False, timeout=timeout,
                         env={**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"})
        lines = proc.stdout.decode(errors="replace").splitlines()
        if check and proc.returncode not in (0, 2):
            _, errors = parse_events(lines)
            detail = "; ".join(errors) or proc.stderr.decode(errors="replace").strip()[-600:]
            raise ProviderError(f"tofu {args[0]} failed in {self.directory} (exit {proc.returncode}): {detail}",
                                "read the error above; fix infra/ or the credentials, then re-run (it resumes)")
        return proc.returncode, lines

    def _var_file(self) -> Path:
        cloud = self.env.cloud
        if cloud is None:
            raise ProviderError(f"{self.env.name} has no cluster.region/nodeSize/nodeCount for the opentofu provider",
                                f"set them in clusters/{self.env.name}/environment.yaml")
        self.state.mkdir(parents=True, exist_ok=True)
        path = self.state / f"opentofu-{self.env.name}.tfvars.json"
        path.write_text(json.dumps({"name": self.env.cluster_name, "region": cloud.region,
                                    "kubernetes_version": self.env.kubernetes.version, "node_size": cloud.node_size,
                                    "node_count": cloud.node_count}, indent=2))
        return path

    def init(self) -> None:
        if not self.directory.is_dir():
            raise ProviderError(f"no OpenTofu configuration at {self.directory}",
                                f"add infra/{self.env.name}/ (see infra/README.md) or choose another provider")
        self.state.mkdir(parents=True, exist_ok=True)
        backend = self.state / f"opentofu-{self.env.name}.s3.tfbackend"
        backend.write_text(backend_config(self.env))
        self._tofu("init", "-input=false", "-no-color", f"-backend-config={backend}")

    def outputs(self) -> dict[str, Any]:
        """The configuration's outputs (empty before the first apply)."""
        _, lines = self._tofu("output", "-json")
        raw = json.loads("\n".join(lines) or "{}")
        return {key: value.get("value") for key, value in raw.items()}

    def plan(self) -> PlanSummary:
        """What applying would change (read-only: the dry run shows it)."""
        self.init()
        code, lines = self._tofu("plan", "-input=false", "-json", "-detailed-exitcode", "-lock-timeout=60s",
                                 f"-var-file={self._var_file()}")
        summary, _ = parse_events(lines)
        return summary or PlanSummary(int(code == 2), 0, 0)

    def exists(self) -> bool:
        self.init()
        return bool(self.outputs().get("api_endpoint"))

    def ensure(self) -> bool:
        """Apply the configuration when its plan changes something; True when the cluster had to be created."""
        self.init()
        existed = bool(self.outputs().get("api_endpoint"))
        plan_file = self.state / f"opentofu-{self.env.name}.tfplan"
        code, lines = self._tofu("plan", "-input=false", "-json", "-detailed-exitcode", "-lock-timeout=60s",
                                 f"-out={plan_file}", f"-var-file={self._var_file()}")
        summary, _ = parse_events(lines)
        if code == 0:
            console.say(f"  opentofu: {summary or PlanSummary(0, 0, 0)}")
        else:
            console.say(f"  opentofu: applying ({summary or 'changes'})")
            _, applied = self._tofu("apply", "-input=false", "-json", "-lock-timeout=60s", str(plan_file))
            parse_events(applied, console.say)
        plan_file.unlink(missing_ok=True)
        self._write_kubeconfig()
        return not existed

    def _write_kubeconfig(self) -> None:
        outputs = self.outputs()
        missing = [name for name in INTERFACE_OUTPUTS if name not in outputs]
        if missing:
            raise ProviderError(f"infra/{self.env.name} does not return the cluster interface: missing output(s) "
                                f"{', '.join(missing)}", "every module returns api_endpoint, ca_certificate, "
                                "kubeconfig and load_balancer_address (infra/README.md)")
        self.state.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._kubeconfig_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(str(outputs[KUBECONFIG_OUTPUT]))

    def kubeconfig(self) -> tuple[Path | None, str | None]:
        if not self._kubeconfig_path.is_file():
            try:
                self.init()
                self._write_kubeconfig()
            except (ProviderError, ToolError) as exc:
                raise ProviderError(f"no kubeconfig for {self.env.name}'s cluster: {exc.message}",
                                    f"run ./scripts/cattle bootstrap --env {self.env.name} first") from exc
        return self._kubeconfig_path, None

    def delete(self) -> None:
        self.init()
        console.say(f"  opentofu: destroying {self.env.name}'s cluster")
        _, lines = self._tofu("destroy", "-input=false", "-json", "-auto-approve", "-lock-timeout=60s",
                              f"-var-file={self._var_file()}")
        parse_events(lines, console.say)
        self._kubeconfig_path.unlink(missing_ok=True)
