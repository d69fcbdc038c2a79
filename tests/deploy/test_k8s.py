"""deploy/k8s: the kustomizations render, every object is schema-valid, and the workload is
shaped for production (replicas, probes, limits, non-root, read-only root fs, policies)."""

from __future__ import annotations

import copy
import shutil
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import DEPLOY, run, unknown_setting

OVERLAYS = ["base", "overlays/production"]
#: The oldest Kubernetes minor still supported by the big providers, and the newest schema.
VERSIONS = ["1.29", kubernetes_validate.latest_version()]


def render(path: str) -> list[dict[str, Any]]:
    """``kustomize build`` through kubectl's built-in kustomize or a standalone kustomize."""
    target = str(DEPLOY / "k8s" / path)
    if shutil.which("kubectl"):
        command = ["kubectl", "kustomize", target]
    elif shutil.which("kustomize"):
        command = ["kustomize", "build", target]
    else:
        pytest.fail("neither kubectl nor kustomize is on PATH to render deploy/k8s")
    return [doc for doc in yaml.safe_load_all(run(command)) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_every_object_is_valid_against_the_kubernetes_schemas(
    objects: list[dict[str, Any]],
) -> None:
    kinds = {o["kind"] for o in objects}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
        "ConfigMap",
        "NetworkPolicy",
        "ServiceAccount",
    } <= kinds
    for version in VERSIONS:
        for obj in objects:
            kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_rejects_a_misspelt_field(objects: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(by_kind(objects, "Deployment")["tokend"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(
        kubernetes_validate.ValidationError, match="'readinessProbes' was unexpected"
    ):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_the_server_runs_replicated_probed_limited_and_unprivileged(
    objects: list[dict[str, Any]],
) -> None:
    deployment = by_kind(objects, "Deployment")["tokend"]
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["args"] == ["serve"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    for key in ("cpu", "memory"):
        assert container["resources"]["requests"][key]
        assert container["resources"]["limits"][key]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]


def test_every_workload_is_unprivileged_with_limits(objects: list[dict[str, Any]]) -> None:
    workloads = [*by_kind(objects, "Deployment").values(), *by_kind(objects, "Job").values()]
    assert len(workloads) == 3  # server, worker, migration
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["resources"]["limits"]["memory"]


def test_selectors_and_references_agree(objects: list[dict[str, Any]]) -> None:
    deployment = by_kind(objects, "Deployment")["tokend"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = by_kind(objects, "Service")["tokend"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    port_names = {
        p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    pdb = by_kind(objects, "PodDisruptionBudget")["tokend"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["tokend"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "tokend",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    policy = by_kind(objects, "NetworkPolicy")["tokend"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    (job,) = by_kind(objects, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


def test_configuration_comes_from_the_configmap_and_secret_references(
    objects: list[dict[str, Any]],
) -> None:
    (configmap,) = by_kind(objects, "ConfigMap").values()
    assert configmap["data"]["TOKEND_ENV"] == "production"
    assert configmap["data"]["TOKEND_ISSUER"].startswith("https://")
    assert not by_kind(objects, "Secret"), "secrets are created outside the repository"
    variables = set(configmap["data"])
    workloads = [*by_kind(objects, "Deployment").values(), *by_kind(objects, "Job").values()]
    for workload in workloads:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            refs = [e["configMapRef"]["name"] for e in container["envFrom"]]
            assert refs == [configmap["metadata"]["name"]]
            for env in container["env"]:
                variables.add(env["name"])
                secret = env["valueFrom"]["secretKeyRef"]
                assert secret["name"] == "tokend-secrets"
    assert "TOKEND_SECRET_KEY" in variables
    problems = [p for v in sorted(variables) if (p := unknown_setting(v)) is not None]
    assert not problems, problems
