"""Renders deploy/helm/parent-harness with the real Helm engine (helm-python-sdk ships
Helm's Go library) and checks the output is valid Kubernetes: every document against the
API's OpenAPI schemas (kubernetes-validate, strict: unknown fields fail), for the oldest
and newest Kubernetes the chart supports, with the default values, with every value set
(ci/all-values.yaml) and with the optional parts off. Then checks what the chart
promises: RBAC limited to Jobs, Pods, pods/log and Secrets in the Jobs' namespace, no
Secret rendered from values, the executor settings the orchestrator reads.

Run by scripts/helm-check, which installs the two packages first.
"""

import sys
import tomllib
from pathlib import Path

import helm_python
import kubernetes_validate
import yaml

CHART = Path(__file__).resolve().parent / "parent-harness"
KUBE_VERSIONS = ["1.29.0", "1.37.0"]
EXPECTED_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "get", "list", "patch", "delete"]},
]
EXECUTOR_KEYS = {
    "namespace", "image", "harness_image", "orchestrator_url", "max_concurrent", "cpu", "memory",
    "disk", "ttl_seconds_after_finished", "unschedulable_grace_secs", "instance", "node_selector",
    "tolerations",
}

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"FAIL: {message}", file=sys.stderr)


def render(values: dict, namespace: str) -> list[dict]:
    chart = helm_python.Chart.load(CHART)
    manifests = chart.render(values, name="harness", namespace=namespace, is_install=True)
    docs = []
    for path, text in sorted(manifests.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("metadata", {}).setdefault("annotations", {})
                doc["_source"] = path
                docs.append(doc)
    return docs


def validate(case: str, docs: list[dict]) -> None:
    for doc in docs:
        source = doc.pop("_source")
        if not doc["metadata"]["annotations"]:
            del doc["metadata"]["annotations"]
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = "/".join(str(p) for p in e.path)
                fail(f"{case}: {source} ({doc['kind']}) invalid for Kubernetes {version} at {path}: {e.message}")
        doc["_source"] = source


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def lint(case: str, values: dict) -> None:
    report = helm_python.lint(CHART, values, strict=True, namespace="tools", kube_version="v1.29.0")
    for message in report.get("messages") or []:
        if message.get("severity", 0) >= 2:
            fail(f"{case}: helm lint: {message.get('path')}: {message.get('error')}")
    for error in report.get("errors") or []:
        fail(f"{case}: helm lint: {error}")


def check_default(docs: list[dict]) -> None:
    kinds = sorted(d["kind"] for d in docs)
    expected = sorted(["ConfigMap", "Deployment", "Role", "RoleBinding", "Service", "Service", "Service",
                       "ServiceAccount", "StatefulSet"])
    if kinds != expected:
        fail(f"default values render {kinds}, expected {expected}")
    if by_kind(docs, "Secret"):
        fail("the chart renders a Secret: secrets must come from an existing Secret")
    sts = by_kind(docs, "StatefulSet")[0]
    if sts["spec"]["replicas"] != 1:
        fail("the orchestrator must run as a single replica")
    claims = [c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]]
    if "data" not in claims:
        fail(f"the StatefulSet has no data volume claim: {claims}")
    mounts = {m["name"]: m["mountPath"] for m in sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    if mounts.get("data") != "/app/data":
        fail(f"the SQLite volume is not mounted at /app/data: {mounts}")


def check_all_values(docs: list[dict]) -> None:
    roles = by_kind(docs, "Role")
    if len(roles) != 1:
        fail(f"expected one Role, got {len(roles)}")
        return
    role = roles[0]
    if role["metadata"]["namespace"] != "harness-jobs":
        fail(f"the Role is in {role['metadata']['namespace']}, not the Jobs' namespace")
    if role["rules"] != EXPECTED_RULES:
        fail(f"the Role grants more or other than the executor needs: {role['rules']}")
    if by_kind(docs, "ClusterRole") or by_kind(docs, "ClusterRoleBinding"):
        fail("the chart must not grant cluster-wide permissions")
    binding = by_kind(docs, "RoleBinding")[0]
    subject = binding["subjects"][0]
    if (subject["name"], subject["namespace"]) != ("harness-orchestrator", "tools"):
        fail(f"the RoleBinding binds {subject}")
    sts = by_kind(docs, "StatefulSet")[0]
    pod = sts["spec"]["template"]["spec"]
    if pod["serviceAccountName"] != "harness-orchestrator" or pod["automountServiceAccountToken"] is not True:
        fail("the orchestrator does not run as its ServiceAccount with a token")
    env = pod["containers"][0]["env"]
    secret_refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
    if set(secret_refs) != {"API_TOKEN", "MODEL_KEY", "TG_TOKEN", "TG_WEBHOOK"}:
        fail(f"secret environment {sorted(secret_refs)}")
    if any(ref["name"] != "my-harness-secrets" for ref in secret_refs.values()):
        fail("a secret is read from another Secret than secrets.existingSecret")
    for d in by_kind(docs, "Deployment"):
        if d["spec"]["template"]["spec"]["automountServiceAccountToken"] is not False:
            fail("the dashboard mounts a service account token")
    config = tomllib.loads(by_kind(docs, "ConfigMap")[0]["data"]["harness.toml"])
    kube = config["executors"]["kubernetes"]
    if set(kube) != EXECUTOR_KEYS:
        fail(f"[executors.kubernetes] keys {sorted(kube)}")
    if kube["namespace"] != "harness-jobs" or kube["harness_image"] != "registry.example.com/parent-harness/orchestrator:1.2.3":
        fail(f"[executors.kubernetes] {kube}")
    if kube["orchestrator_url"] != "http://ph-orchestrator.tools.svc:8080":
        fail(f"workers would reach the orchestrator at {kube['orchestrator_url']}")
    if kube["node_selector"] != {"pool": "agents", "kubernetes.io/arch": "amd64"}:
        fail(f"node_selector {kube['node_selector']}")
    if len(kube["tolerations"]) != 2 or kube["tolerations"][1].get("toleration_seconds") != 60:
        fail(f"tolerations {kube['tolerations']}")
    if config["executors"]["local"]["max_concurrent"] != 1:
        fail("executor.extraConfig is not in harness.toml")
    if not by_kind(docs, "Ingress") or not by_kind(docs, "NetworkPolicy"):
        fail("the Ingress and NetworkPolicy are missing with every value set")
    check_worker_egress(docs)


def check_worker_egress(docs: list[dict]) -> None:
    """The attempts' egress policy: in the Jobs' namespace, on the attempt pods, Egress
    only, to the orchestrator, the DNS and exactly the allowed CIDRs."""
    policies = [d for d in by_kind(docs, "NetworkPolicy") if d["spec"].get("policyTypes") == ["Egress"]]
    if len(policies) != 1:
        fail(f"expected one egress NetworkPolicy for the workers, got {len(policies)}")
        return
    spec = policies[0]["spec"]
    if policies[0]["metadata"]["namespace"] != "harness-jobs":
        fail(f"the workers' egress policy is in {policies[0]['metadata']['namespace']}")
    if spec["podSelector"]["matchLabels"].get("app.kubernetes.io/component") != "attempt":
        fail(f"the workers' egress policy selects {spec['podSelector']}")
    peers = [peer for rule in spec["egress"] for peer in rule["to"]]
    orchestrator = [p for p in peers if p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") == "orchestrator"]
    if not orchestrator or orchestrator[0]["namespaceSelector"]["matchLabels"] != {"kubernetes.io/metadata.name": "tools"}:
        fail(f"the workers cannot reach the orchestrator: {peers}")
    cidrs = sorted(p["ipBlock"]["cidr"] for p in peers if "ipBlock" in p)
    if cidrs != ["10.20.0.0/16", "160.79.104.0/23"]:
        fail(f"the workers may reach {cidrs}")


def check_minimal(docs: list[dict]) -> None:
    kinds = sorted({d["kind"] for d in docs})
    if kinds != ["ConfigMap", "Service", "ServiceAccount", "StatefulSet"]:
        fail(f"with the dashboard and the kubernetes executor off, the chart renders {kinds}")
    pod = by_kind(docs, "StatefulSet")[0]["spec"]["template"]["spec"]
    if pod["automountServiceAccountToken"] is not False:
        fail("without the kubernetes executor the orchestrator must not mount a token")


def main() -> int:
    all_values = yaml.safe_load((CHART / "ci" / "all-values.yaml").read_text())
    minimal = {"dashboard": {"enabled": False}, "executor": {"kubernetes": {"enabled": False}}}
    cases = [
        ("default values", {}, "parent-harness", check_default),
        ("every value set", all_values, "tools", check_all_values),
        ("dashboard and executor off", minimal, "parent-harness", check_minimal),
    ]
    total = 0
    for case, values, namespace, check in cases:
        lint(case, values)
        try:
            docs = render(values, namespace)
        except helm_python.HelmError as e:  # a template that fails to render
            fail(f"{case}: render failed: {e}")
            continue
        validate(case, docs)
        check(docs)
        total += len(docs)
        print(f"helm-check: {case}: {len(docs)} manifests rendered and validated")
    if failures:
        print(f"helm-check: {len(failures)} problem(s)", file=sys.stderr)
        return 1
    print(f"helm-check: {total} manifests valid for Kubernetes {', '.join(KUBE_VERSIONS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
