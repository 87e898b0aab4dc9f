"""A stand-in `tofu` for the opentofu provider's tests: records every call (TOFU_CALLS) and answers with the shapes
real OpenTofu prints (machine-readable UI lines for -json, `output -json`). State lives in TOFU_STATE."""

import json
import os
import sys
from pathlib import Path

args = sys.argv[1:]
calls = Path(os.environ["TOFU_CALLS"])
state = Path(os.environ["TOFU_STATE"])
with calls.open("a") as log:
    log.write(json.dumps(args) + "\n")
if args == ["version"]:
    print("OpenTofu v1.12.6\non linux_amd64")
    sys.exit(0)
command = next(a for a in args if not a.startswith("-chdir="))
RESOURCES = ["module.cluster.hcloud_load_balancer.this", "module.cluster.hcloud_server.server",
             "module.cluster.hcloud_server.agent[0]", "module.cluster.tls_self_signed_cert.server_ca"]


def event(kind: str, message: str, **extra: object) -> None:
    print(json.dumps({"@level": "info", "@message": message, "@module": "tofu.ui",
                      "@timestamp": "2026-11-25T10:00:00.000000Z", "type": kind, **extra}))


if command == "init":
    print("OpenTofu has been successfully initialized!")
elif command == "plan":
    changes = 0 if state.exists() else len(RESOURCES)
    event("version", "OpenTofu 1.12.6", tofu="1.12.6", ui="1.2")
    event("change_summary", f"Plan: {changes} to add, 0 to change, 0 to destroy.",
          changes={"add": changes, "change": 0, "import": 0, "remove": 0, "operation": "plan"})
    out = next((a.split("=", 1)[1] for a in args if a.startswith("-out=")), None)
    if out:
        Path(out).write_text("plan")
    sys.exit(2 if changes else 0)
elif command == "apply":
    for address in RESOURCES:
        hook = {"resource": {"addr": address, "module": "module.cluster", "implied_provider": "hcloud"},
                "action": "create", "id_key": "id", "id_value": "1", "elapsed_seconds": 7}
        event("apply_start", f"{address}: Creating...", hook=hook)
        event("apply_complete", f"{address}: Creation complete after 7s [id=1]", hook=hook)
    event("change_summary", f"Apply complete! Resources: {len(RESOURCES)} added, 0 changed, 0 destroyed.",
          changes={"add": len(RESOURCES), "change": 0, "import": 0, "remove": 0, "operation": "apply"})
    state.write_text("applied")
elif command == "output":
    if not state.exists():
        print("{}")
    else:
        # TOFU_KUBECONFIG: the kubeconfig of a fake API server the "created" cluster is (a bootstrap test)
        default = "apiVersion: v1\nkind: Config\ncurrent-context: cattle-staging\n"
        kubeconfig = os.environ.get("TOFU_KUBECONFIG") or default
        print(json.dumps({
            "api_endpoint": {"sensitive": False, "type": "string", "value": "https://203.0.113.10:6443"},
            "ca_certificate": {"sensitive": False, "type": "string", "value": "-----BEGIN CERTIFICATE-----\n"},
            "kubeconfig": {"sensitive": True, "type": "string", "value": kubeconfig},
            "load_balancer_address": {"sensitive": False, "type": "string", "value": "203.0.113.10"}}, indent=2))
elif command == "destroy":
    event("change_summary", "Destroy complete! Resources: 4 destroyed.",
          changes={"add": 0, "change": 0, "import": 0, "remove": 4, "operation": "destroy"})
    state.unlink(missing_ok=True)
else:
    print(f"stand-in tofu does not know {command}", file=sys.stderr)
    sys.exit(1)
