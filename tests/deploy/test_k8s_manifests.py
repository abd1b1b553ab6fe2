"""The Kubernetes manifests (deploy/k8s) and KServe resources (deploy/kserve), checked offline:
against Kubernetes' API schemas, and against the code they run (settings, ports, health names,
shutdown timings, images). No cluster is needed; kubectl only for the kustomize rendering test.
"""

import copy
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml
from aiohttp import web
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from common.names import ACCEPTING_CALLS_HEALTH_NAME, IRIS_SERVICE, V2_SERVICE
from proxy import config as proxy_config
from proxy import routes as proxy_routes
from proxy.serving import SHUTDOWN_MARGIN_SECONDS
from server import config as server_config
from tests.support.server_process import REPO_ROOT

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
KSERVE_DIR = REPO_ROOT / "deploy" / "kserve"
# An old Kubernetes minor still in service, a recent one, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29", "1.33", "1.37")
PART_OF = {"app.kubernetes.io/part-of": "iris-predictor"}
# InferenceService predictor fields that are KServe's own; the others are Pod spec fields.
KSERVE_COMPONENT_FIELDS = {"model", "minReplicas", "maxReplicas"}


def load_documents(path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def kustomization() -> dict:
    return yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())


K8S_RESOURCES = [
    resource for name in kustomization()["resources"] for resource in load_documents(K8S_DIR / name)
]
RUNTIME = load_documents(KSERVE_DIR / "serving-runtime.yaml")[0]
INFERENCE_SERVICE = load_documents(KSERVE_DIR / "inference-service.yaml")[0]
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
PROGRAMS = {"server": "Dockerfile.server", "proxy": "Dockerfile.proxy"}


def of_kind(kind: str) -> list[dict]:
    return [resource for resource in K8S_RESOURCES if resource["kind"] == kind]


def kserve_pod() -> dict:
    """The pod KServe makes: the runtime's containers and volumes, the predictor's pod fields."""
    predictor = INFERENCE_SERVICE["spec"]["predictor"]
    pod = {key: value for key, value in predictor.items() if key not in KSERVE_COMPONENT_FIELDS}
    return {**pod, "containers": RUNTIME["spec"]["containers"], "volumes": RUNTIME["spec"]["volumes"]}


PODS = {
    **{f"Deployment/{d['metadata']['name']}": d["spec"]["template"]["spec"] for d in of_kind("Deployment")},
    f"InferenceService/{INFERENCE_SERVICE['metadata']['name']}": kserve_pod(),
}


def container(pod: dict) -> dict:
    (only,) = pod["containers"]
    return only


def program(pod: dict) -> str:
    """Which program a pod runs, by its image's name (tag aside): "server" or "proxy"."""
    name = container(pod)["image"].rsplit(":", 1)[0]
    (found,) = [p for p in PROGRAMS if COMPOSE["services"][p]["image"].rsplit(":", 1)[0] == name]
    return found


SERVER_PODS = [pod_id for pod_id, pod in PODS.items() if program(pod) == "server"]
PROXY_PODS = [pod_id for pod_id, pod in PODS.items() if program(pod) == "proxy"]


def env(pod: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container(pod).get("env", [])}


def setting_fields(name: str) -> dict[str, str]:
    """A program's settings: IRIS_* environment name -> Settings field."""
    reader = server_config.READER if name == "server" else proxy_config.READER
    return {setting.env_name: setting.field for setting in reader.settings}


def setting(pod: dict, env_name: str) -> str:
    """What the pod's program reads for a setting: the manifest's value, else the default."""
    if env_name in env(pod):
        return env(pod)[env_name]
    settings = server_config.Settings() if program(pod) == "server" else proxy_config.Settings()
    return str(getattr(settings, setting_fields(program(pod))[env_name]))


def selects(selector: dict, labels: dict) -> bool:
    assert set(selector) == {"matchLabels"}, "only matchLabels selectors are checked here"
    return selector["matchLabels"].items() <= labels.items()


def pod_labels(name: str) -> dict:
    (deployment,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == name]
    return deployment["spec"]["template"]["metadata"]["labels"]


def selected_deployments(selector: dict) -> list[dict]:
    return [d for d in of_kind("Deployment") if selects(selector, pod_labels(d["metadata"]["name"]))]


def schema_error(resource: dict, version: str) -> str | None:
    """Why kubernetes-validate --strict rejects `resource` for this Kubernetes version, or None.

    Its CLI only warns, and exits 0, on a kind or apiVersion it has no schema for (a misspelt kind,
    a removed apiVersion); its Python API raises SchemaNotFoundError, counted here as an error.
    """
    try:
        validated = kubernetes_validate.validate(resource, version, strict=True)
    except (ValidationError, SchemaNotFoundError) as error:
        return f"{resource['kind']}/{resource['metadata']['name']}: {error.message}"
    # It falls back to the newest schema older than `version` when it has none for `version`.
    return None if validated == version else f"validated against {validated}, not {version}"


def test_kustomization_lists_every_manifest():
    """Every YAML file in deploy/k8s is a resource of the kustomization, and no resource is missing."""
    files = {path.name for path in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization()["resources"]) == sorted(files)
    assert "namespace" not in kustomization()
    assert all("namespace" not in resource["metadata"] for resource in K8S_RESOURCES)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_resources_pass_strict_schema_validation(version):
    """Each resource in deploy/k8s is valid, with no unknown field, for each Kubernetes version."""
    errors = [schema_error(resource, version) for resource in K8S_RESOURCES]
    assert [error for error in errors if error] == []


def _with_unknown_field() -> dict:
    (deployment,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == "iris-server"]
    deployment = copy.deepcopy(deployment)
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["serviceName"] = ""
    return deployment


BAD_RESOURCES = {
    "unknown field": _with_unknown_field(),
    "unknown kind": {"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "iris"}},
    "removed apiVersion": {
        "apiVersion": "extensions/v1beta1",
        "kind": "Ingress",
        "metadata": {"name": "iris"},
        "spec": {"backend": {"serviceName": "iris-proxy", "servicePort": 5000}},
    },
}


@pytest.mark.parametrize("resource", BAD_RESOURCES.values(), ids=BAD_RESOURCES)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_schema_check_rejects_a_bad_resource(resource, version):
    """The schema check fails on an unknown field, an unknown kind and a removed apiVersion."""
    assert schema_error(resource, version)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kserve_pod_passes_strict_schema_validation(version):
    """The runtime's container and volumes and the predictor's pod fields make a valid core/v1 Pod."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "iris"}, "spec": kserve_pod()}
    assert schema_error(pod, version) is None


def test_serving_runtime_serves_grpc_v2_on_an_h2c_port():
    """The ServingRuntime speaks V2 over gRPC on its first port, named h2c as KServe expects."""
    assert (RUNTIME["apiVersion"], RUNTIME["kind"]) == ("serving.kserve.io/v1alpha1", "ServingRuntime")
    assert {"v2", "grpc-v2"} <= set(RUNTIME["spec"]["protocolVersions"])
    pod = kserve_pod()
    assert container(pod)["name"] == "kserve-container"
    # KServe's raw-deployment Service sends its main port to the first container port.
    first = container(pod)["ports"][0]
    assert (first["name"], first["containerPort"]) == ("h2c", int(setting(pod, "IRIS_PORT")))


def test_inference_service_runs_on_the_runtime_as_a_raw_deployment():
    """The InferenceService names the runtime, a format and protocol it supports, and RawDeployment."""
    assert (INFERENCE_SERVICE["apiVersion"], INFERENCE_SERVICE["kind"]) == (
        "serving.kserve.io/v1beta1",
        "InferenceService",
    )
    assert INFERENCE_SERVICE["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    model = INFERENCE_SERVICE["spec"]["predictor"]["model"]
    assert model["runtime"] == RUNTIME["metadata"]["name"]
    assert model["protocolVersion"] == "grpc-v2"
    assert model["protocolVersion"] in RUNTIME["spec"]["protocolVersions"]
    formats = [(f["name"], f.get("version")) for f in RUNTIME["spec"]["supportedModelFormats"]]
    assert (model["modelFormat"]["name"], model["modelFormat"].get("version")) in formats
    assert "storageUri" not in model  # the model is in the image


@pytest.mark.parametrize("pod_id", PODS)
def test_env_names_are_settings_of_the_program(pod_id):
    """Every IRIS_* variable a manifest sets is a setting of the program in that container."""
    unknown = set(env(PODS[pod_id])) - set(setting_fields(program(PODS[pod_id])))
    assert unknown == set(), f"not settings of the {program(PODS[pod_id])}"


@pytest.mark.parametrize("pod_id", PODS)
def test_env_values_are_accepted_by_the_program(pod_id):
    """The program's own settings parser accepts the values the manifest gives."""
    parse = server_config.parse_settings if program(PODS[pod_id]) == "server" else proxy_config.parse_settings
    parse([], env(PODS[pod_id]))


@pytest.mark.parametrize("pod_id", PODS)
def test_container_ports_are_the_ports_the_program_listens_on(pod_id):
    """The declared container ports are the program's port settings (env or default), no more."""
    pod = PODS[pod_id]
    names = ["IRIS_PORT", "IRIS_METRICS_PORT"] if program(pod) == "server" else ["IRIS_PORT"]
    declared = sorted(port["containerPort"] for port in container(pod)["ports"])
    assert declared == sorted(int(setting(pod, name)) for name in names)


@pytest.mark.parametrize("pod_id", SERVER_PODS)
def test_server_probes_ask_the_servers_health_names(pod_id):
    """Readiness asks the whole server (or an API); startup and liveness ask "accepting calls"."""
    pod = PODS[pod_id]
    kinds = ("startupProbe", "readinessProbe", "livenessProbe")
    probes = {kind: container(pod)[kind]["grpc"] for kind in kinds}
    assert {probe["port"] for probe in probes.values()} == {int(setting(pod, "IRIS_PORT"))}
    assert probes["readinessProbe"]["service"] in ("", IRIS_SERVICE, V2_SERVICE)
    assert probes["livenessProbe"]["service"] == ACCEPTING_CALLS_HEALTH_NAME
    assert probes["startupProbe"]["service"] == ACCEPTING_CALLS_HEALTH_NAME


@pytest.mark.parametrize("pod_id", PROXY_PODS)
def test_proxy_probes_are_its_health_routes(pod_id):
    """Readiness is GET /readyz and liveness GET /healthz, on the proxy's port."""
    pod = PODS[pod_id]
    app = web.Application()
    proxy_routes.add_routes(app)
    handlers = {r.resource.canonical: r.handler for r in app.router.routes() if r.method == "GET"}
    ports = {port["name"]: port["containerPort"] for port in container(pod)["ports"]}
    for kind, handler in (("readinessProbe", proxy_routes.readyz), ("livenessProbe", proxy_routes.healthz)):
        probe = container(pod)[kind]["httpGet"]
        assert handlers[probe["path"]] is handler
        assert ports.get(probe["port"], probe["port"]) == int(setting(pod, "IRIS_PORT"))


def stop_seconds(pod: dict) -> float:
    """From deletion to exit at the longest: the preStop sleep, the drain, then in-flight work."""
    command = container(pod)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    drain = float(setting(pod, "IRIS_DRAIN_SECONDS"))
    if program(pod) == "server":
        return float(command[1]) + drain + float(setting(pod, "IRIS_GRACE_SECONDS"))
    # The proxy gives requests in flight their gRPC deadline and a margin (proxy/serving.py).
    return float(command[1]) + drain + float(setting(pod, "IRIS_DEADLINE_SECONDS")) + SHUTDOWN_MARGIN_SECONDS


@pytest.mark.parametrize("pod_id", PODS)
def test_shutdown_fits_in_the_termination_grace_period(pod_id):
    """terminationGracePeriodSeconds > preStop sleep + drain + grace, so nothing is killed mid-call."""
    assert PODS[pod_id]["terminationGracePeriodSeconds"] > stop_seconds(PODS[pod_id])


@pytest.mark.parametrize("pod_id", SERVER_PODS)
def test_server_liveness_does_not_restart_a_draining_server(pod_id):
    """Liveness turns NOT_SERVING at SIGTERM: its failures must take longer than the grace period."""
    liveness = container(PODS[pod_id])["livenessProbe"]
    failing_for = liveness["periodSeconds"] * liveness["failureThreshold"]
    assert failing_for >= PODS[pod_id]["terminationGracePeriodSeconds"]


@pytest.mark.parametrize("pod_id", PODS)
def test_images_are_the_ones_compose_builds(pod_id):
    """Each container runs the image, tag included, that docker-compose.yml builds for its program."""
    assert container(PODS[pod_id])["image"] == COMPOSE["services"][program(PODS[pod_id])]["image"]


def test_proxy_upstream_is_the_headless_server_service():
    """The proxy balances over every server pod: dns:/// of the headless Service, on the gRPC port."""
    (headless,) = [s for s in of_kind("Service") if s["spec"].get("clusterIP") == "None"]
    server = PODS["Deployment/iris-server"]
    assert selects({"matchLabels": headless["spec"]["selector"]}, pod_labels("iris-server"))
    port = int(setting(server, "IRIS_PORT"))
    assert port in [p["port"] for p in headless["spec"]["ports"]]
    for pod_id in PROXY_PODS:
        assert setting(PODS[pod_id], "IRIS_UPSTREAM") == f"dns:///{headless['metadata']['name']}:{port}"


def cpu_cores(quantity) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


@pytest.mark.parametrize("pod_id", PODS)
def test_processes_and_threads_fit_the_cpu_limit(pod_id):
    """One process per core, and onnxruntime's threads sized to the limit, not to the node's cores."""
    pod = PODS[pod_id]
    cores = cpu_cores(container(pod)["resources"]["limits"]["cpu"])
    workers = int(setting(pod, "IRIS_WORKERS"))
    assert workers <= cores
    if program(pod) == "server":
        assert workers * int(setting(pod, "IRIS_INTRA_OP_THREADS")) <= cores
        assert workers * int(setting(pod, "IRIS_INTER_OP_THREADS")) <= cores


def effective(pod: dict, key: str):
    """A security setting as the container gets it: its own, else the pod's."""
    return container(pod).get("securityContext", {}).get(key, pod.get("securityContext", {}).get(key))


@pytest.mark.parametrize("pod_id", PODS)
def test_pods_are_restricted(pod_id):
    """Non-root as the image's user, read-only root, no privileges, seccomp, /tmp in memory, no links."""
    pod = PODS[pod_id]
    dockerfile = (REPO_ROOT / PROGRAMS[program(pod)]).read_text()
    (uid,) = re.findall(r"useradd .*--uid (\d+)", dockerfile)
    assert effective(pod, "runAsNonRoot") is True
    assert effective(pod, "runAsUser") == int(uid)
    assert effective(pod, "seccompProfile") == {"type": "RuntimeDefault"}
    security = container(pod)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    (tmp,) = [mount for mount in container(pod)["volumeMounts"] if mount["mountPath"] == "/tmp"]
    assert "emptyDir" in volumes[tmp["name"]]
    # Service links would add IRIS_<SERVICE>_PORT=tcp://... variables, in the settings' namespace.
    assert pod["enableServiceLinks"] is False


def test_services_select_one_deployment_and_its_named_ports():
    """Each Service selects the pods of one Deployment and targets ports that pod declares."""
    for svc in of_kind("Service"):
        (deployment,) = selected_deployments({"matchLabels": svc["spec"]["selector"]})
        declared = {port["name"] for port in container(deployment["spec"]["template"]["spec"])["ports"]}
        assert {port["targetPort"] for port in svc["spec"]["ports"]} <= declared, svc["metadata"]["name"]


def test_autoscalers_and_disruption_budgets_cover_each_deployment():
    """An HPA (two pods or more, owning replicas) and a PDB for each Deployment."""
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    targets = [hpa["spec"]["scaleTargetRef"] for hpa in of_kind("HorizontalPodAutoscaler")]
    assert sorted(t["name"] for t in targets) == sorted(deployments)
    assert {(t["apiVersion"], t["kind"]) for t in targets} == {("apps/v1", "Deployment")}
    assert all(hpa["spec"]["minReplicas"] >= 2 for hpa in of_kind("HorizontalPodAutoscaler"))
    assert all("replicas" not in d["spec"] for d in deployments.values())
    budgets = [selected_deployments(pdb["spec"]["selector"]) for pdb in of_kind("PodDisruptionBudget")]
    assert sorted(d["metadata"]["name"] for (d,) in budgets) == sorted(deployments)


def allowed(labels: dict, direction: str) -> list[dict]:
    """The ingress or egress rules of every NetworkPolicy that selects pods with these labels."""
    return [
        rule
        for policy in of_kind("NetworkPolicy")
        if selects(policy["spec"]["podSelector"], labels)
        for rule in policy["spec"].get(direction, [])
    ]


def rule_ports(rule: dict) -> set[tuple[str, int]]:
    return {(port.get("protocol", "TCP"), port["port"]) for port in rule["ports"]}


def peer_pods(rule: dict, key: str) -> set[str]:
    """The names of this namespace's pods a rule allows (peers with no namespaceSelector)."""
    return {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for peer in rule[key]
        if "podSelector" in peer and "namespaceSelector" not in peer
    }


def test_network_policies_deny_by_default_and_allow_only_what_is_used():
    """Default deny both ways; allows: proxy -> server gRPC, proxy DNS, edge -> proxy, metrics scrapes."""
    (deny,) = [p for p in of_kind("NetworkPolicy") if not {"ingress", "egress"} & set(p["spec"])]
    assert deny["spec"]["podSelector"] == {"matchLabels": PART_OF}
    assert sorted(deny["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    server_pod, proxy_pod = PODS["Deployment/iris-server"], PODS["Deployment/iris-proxy"]
    server, proxy = pod_labels("iris-server"), pod_labels("iris-proxy")
    grpc = ("TCP", int(setting(server_pod, "IRIS_PORT")))
    metrics = ("TCP", int(setting(server_pod, "IRIS_METRICS_PORT")))
    rest = ("TCP", int(setting(proxy_pod, "IRIS_PORT")))

    server_in = allowed(server, "ingress")
    assert any(grpc in rule_ports(r) and peer_pods(r, "from") == {"iris-proxy"} for r in server_in)
    assert any(metrics in rule_ports(r) and "namespaceSelector" in r["from"][0] for r in server_in)
    assert set().union(*map(rule_ports, server_in)) == {grpc, metrics}
    assert allowed(server, "egress") == []

    proxy_in = allowed(proxy, "ingress")
    assert set().union(*map(rule_ports, proxy_in)) == {rest}
    assert all("namespaceSelector" in peer for r in proxy_in for peer in r["from"])
    proxy_out = allowed(proxy, "egress")
    assert any(grpc in rule_ports(r) and peer_pods(r, "to") == {"iris-server"} for r in proxy_out)
    assert set().union(*map(rule_ports, proxy_out)) == {grpc, ("UDP", 53), ("TCP", 53)}


def test_ingress_routes_to_the_proxy_service():
    """The Ingress (networking.k8s.io/v1) sends every path to the proxy Service's port."""
    (ingress,) = of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    (svc,) = [s for s in of_kind("Service") if s["metadata"]["name"] == backend["name"]]
    assert selected_deployments({"matchLabels": svc["spec"]["selector"]}) == [
        d for d in of_kind("Deployment") if d["metadata"]["name"] == "iris-proxy"
    ]
    assert backend["port"]["number"] in [port["port"] for port in svc["spec"]["ports"]]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")


def test_resources_carry_the_recommended_labels():
    """Everything is part-of iris-predictor; workloads and their pods say their name and component."""
    for resource in [*K8S_RESOURCES, RUNTIME, INFERENCE_SERVICE]:
        assert PART_OF.items() <= resource["metadata"]["labels"].items(), resource["metadata"]["name"]
    for deployment in of_kind("Deployment"):
        for labels in (deployment["metadata"]["labels"], pod_labels(deployment["metadata"]["name"])):
            assert labels["app.kubernetes.io/name"] == deployment["metadata"]["name"]
            assert labels["app.kubernetes.io/component"] == program(deployment["spec"]["template"]["spec"])
            assert PART_OF.items() <= labels.items()


def test_kubectl_kustomize_renders_every_resource():
    """`kubectl kustomize deploy/k8s` renders, and its output is exactly the resources in the files."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR)], capture_output=True, text=True, timeout=60, check=False
    )
    assert rendered.returncode == 0, rendered.stderr

    def key(resource: dict) -> tuple[str, str]:
        return resource["kind"], resource["metadata"]["name"]

    documents = [document for document in yaml.safe_load_all(rendered.stdout) if document]
    assert sorted(documents, key=key) == sorted(K8S_RESOURCES, key=key)
