"""The tier itself: loopback only, and a real control plane whose controllers do their work (Deployments →
ReplicaSets → Pods scheduled onto a kwok node and Ready, garbage collection, admission webhooks called)."""

from __future__ import annotations

import errno
import json
import socket

import pytest

from tests.controlplane import netns
from tests.controlplane.cluster import ControlPlane


def test_only_loopback_is_reachable(isolated_network: None) -> None:
    assert netns.interfaces() == ["lo"]
    # a Service's cluster IP (the API server's own, 10.96.0.1) is not reachable: it fails at once, no packet leaves
    with socket.socket() as sock, pytest.raises(OSError) as failure:
        sock.settimeout(30)
        sock.connect(("10.96.0.1", 443))
    assert failure.value.errno == errno.ENETUNREACH
    # the tier's own servers are on 127.0.0.1, which works
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=30):
            pass


def _json(plane: ControlPlane, *args: str) -> dict[str, object]:
    return json.loads(plane.kubectl(*args, "-o", "json").stdout)  # type: ignore[no-any-return]


def test_a_deployment_becomes_available_through_the_real_controllers(control_plane: ControlPlane) -> None:
    plane = control_plane
    version = json.loads(plane.kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert version["gitVersion"] == "v1.36.3" and version["minor"] == "36"
    plane.kubectl("create", "deployment", "web", "--image=registry.invalid/web@sha256:" + "0" * 64, "--replicas=3")
    plane.kubectl("rollout", "status", "deployment/web", "--timeout=300s")
    # the fake node keeps a Lease as a kubelet does: without it the node lifecycle controller marks its pods
    # Ready=False once its grace period has passed, and nothing turns them Ready again
    plane.kubectl("wait", "--for=jsonpath={.spec.leaseDurationSeconds}=40", "lease/kwok-node-0",
                  "-n", "kube-node-lease", "--timeout=300s")
    pods = _json(plane, "get", "pods", "-l", "app=web")["items"]
    assert len(pods) == 3  # type: ignore[arg-type]
    assert {p["spec"]["nodeName"] for p in pods} == {"kwok-node-0"}  # type: ignore[index, union-attr]
    # garbage collection: deleting the Deployment takes its ReplicaSet and pods with it
    plane.kubectl("delete", "deployment", "web", "--cascade=foreground", "--wait=true", "--timeout=300s")
    plane.kubectl("wait", "--for=delete", "pod", "-l", "app=web", "--timeout=300s")
    assert _json(plane, "get", "replicasets", "-l", "app=web")["items"] == []


WEBHOOK = {
    "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
    "metadata": {"name": "guard"},
    "webhooks": [{"name": "guard.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                  "failurePolicy": "Fail", "timeoutSeconds": 30,
                  "clientConfig": {"service": {"namespace": "default", "name": "guard", "port": 443}},
                  "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                             "resources": ["configmaps"]}],
                  "namespaceSelector": {"matchLabels": {"guarded": "yes"}}}],
}


def test_a_webhook_aimed_at_a_service_fails_fast(control_plane: ControlPlane) -> None:
    plane = control_plane
    plane.kubectl("create", "service", "clusterip", "guard", "--tcp=443:8443")
    plane.kubectl("apply", "-f", "-", input=json.dumps(WEBHOOK))
    plane.kubectl("create", "namespace", "guarded")
    plane.kubectl("label", "namespace", "guarded", "guarded=yes")
    result = plane.kubectl("create", "configmap", "x", "-n", "guarded", "--from-literal=a=b", check=False)
    assert result.returncode != 0
    # the API server could not reach the Service's address: refused at once, not after the webhook's 30 s
    assert 'failed calling webhook "guard.example.com"' in result.stderr
    assert "network is unreachable" in result.stderr or "no endpoints available" in result.stderr, result.stderr
    assert "deadline exceeded" not in result.stderr and "Timeout" not in result.stderr
