"""Shared helpers of the deployment tests: where the tools are, rendering the chart, reading YAML.

The tools are the pinned builds of scripts/setup-deploy-tools.sh (helm, kubeconform, the JSON schemas) and
scripts/setup-k8s.sh (kubectl, the real kube-apiserver); a missing one fails the test naming the script.
$KOBS_BIN is the kobs binary and $KOBS_DEV_CLUSTER the real-apiserver tool (set by tests/deploy/CMakeLists.txt).
"""
import os
import re
import subprocess
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "deploy", "helm", "kobs")
K8S_DIR = os.path.join(ROOT, "third_party", "k8s")


def _setup_vars(script, name):
    """VERSION variables of a setup script, read rather than repeated."""
    with open(os.path.join(ROOT, "scripts", script), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^%s=(\S+)" % name, text, re.M)
    if not m:
        raise AssertionError("%s: no %s=" % (script, name))
    return m.group(1)


def tool(name):
    if name == "helm":
        path = os.path.join(K8S_DIR, "helm-%s-%s" % (_setup_vars("setup-deploy-tools.sh", "HELM_VERSION"),
                                                      _setup_vars("setup-deploy-tools.sh", "HELM_BUILD")), "helm")
        script = "setup-deploy-tools.sh"
    elif name == "kubeconform":
        path = os.path.join(K8S_DIR, "kubeconform-%s" % _setup_vars("setup-deploy-tools.sh", "KUBECONFORM_VERSION"),
                            "kubeconform")
        script = "setup-deploy-tools.sh"
    elif name == "schemas":
        path = os.path.join(K8S_DIR, "schemas-%s" % _setup_vars("setup-deploy-tools.sh", "K8S_VERSION"))
        script = "setup-deploy-tools.sh"
    elif name == "kubectl":
        path = os.path.join(K8S_DIR, "kubernetes-%s" % _setup_vars("setup-k8s.sh", "K8S_VERSION"), "kubectl")
        script = "setup-k8s.sh"
    elif name == "kobs":
        path = os.environ.get("KOBS_BIN", os.path.join(ROOT, "build", "release", "src", "app", "kobs"))
        script = None
    else:
        raise KeyError(name)
    if not os.path.exists(path):
        how = "run scripts/%s" % script if script else "build the kobs target"
        raise AssertionError("%s not found at %s: %s" % (name, path, how))
    return path


def run(args, check=True, **kw):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s" % (" ".join(args), p.returncode,
                                                                         p.stdout[-4000:], p.stderr[-4000:]))
    return p


def helm_args(values):
    """--set-json per top-level key, so nested maps and lists go through as given."""
    import json
    args = []
    for key, value in values.items():
        args += ["--set-json", "%s=%s" % (key, json.dumps(value))]
    return args


_RENDERED = {}


def render(values=None, namespace="obs", release="kobs", extra=()):
    """helm template of the chart with `values` (a dict merged over values.yaml): the rendered text.
    Remembered per process: the chart does not change while the tests run."""
    import json
    key = json.dumps([values, namespace, release, list(extra)], sort_keys=True)
    if key not in _RENDERED:
        _RENDERED[key] = _render(values, namespace, release, extra)
    return _RENDERED[key]


def _render(values, namespace, release, extra):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(values or {}, f)
        vfile = f.name
    try:
        return run([tool("helm"), "template", release, CHART, "-n", namespace, "-f", vfile] + list(extra)).stdout
    finally:
        os.unlink(vfile)


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def find(objects, kind, name):
    for o in objects:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    raise AssertionError("no %s %s in %s" % (kind, name, sorted((o["kind"], o["metadata"]["name"]) for o in objects)))


SPLIT = {"mode": "split", "clickhouse": {"url": "http://clickhouse.clickhouse-system.svc:8123", "user": "kobs",
                                         "password": "s3cret"}}

# Value sets every chart test renders: both modes, defaults and the switches that change the objects.
VALUE_SETS = {
    "allInOne-defaults": {},
    "allInOne-no-persistence-no-netpol": {"allInOne": {"persistence": {"enabled": False}},
                                          "networkPolicy": {"enabled": False}, "mcp": {"enabled": False}},
    "allInOne-server-krateo-authz": {"clickhouse": {"url": "http://ch:8123"}, "krateo": {"enabled": True},
                                     "mcp": {"authTokenSecret": {"name": "kobs-mcp-token"}},
                                     "extraEnv": [{"name": "JWT_SIGN_KEY", "valueFrom": {"secretKeyRef": {
                                         "name": "jwt-sign-key", "key": "JWT_SIGN_KEY"}}}],
                                     "config": {"presenter": {"require_clientconfig": True,
                                                              "authorize_namespaces": True},
                                                "auth": {"jwt_hs256_secret": "from-env-below"}}},
    "split-defaults": SPLIT,
    "split-hpa-sts-namespaces-authz": dict(SPLIT, **{
        "serve": {"hpa": {"enabled": True}},
        "alert": {"replicas": 2, "config": {"alert": {"leader_election": {"enabled": True}}}},
        "collector": {"persistence": {"enabled": True}},
        "krateo": {"enabled": True},
        "networkPolicy": {"frontendFrom": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "krateo-system"}}}]},
        "extraVolumes": [{"name": "users", "secret": {"secretName": "kobs-clickhouse-users"}}],
        "extraVolumeMounts": [{"name": "users", "mountPath": "/etc/kobs/clickhouse-users", "readOnly": True}],
        "config": {"k8s": {"events": {"namespaces": ["krateo-system", "demo"]}},
                   "auth": {"jwt_jwks_url": "http://authn.krateo-system.svc:8082/.well-known/jwks.json"},
                   "presenter": {"require_clientconfig": True, "authorize_namespaces": True,
                                 "clientconfig_namespace": "krateo-system"}}}),
    "split-no-agent-no-composition": dict(SPLIT, **{
        "agent": {"enabled": False}, "presenter": {"enabled": False},
        "config": {"composition": {"enabled": False}}, "clickhouse": {"existingSecret": "ch-creds",
                                                                       "schemaJob": {"enabled": False}}}),
    "split-collector-k8s-cluster": dict(SPLIT, **{"collector": {"config": {"k8s_cluster": {
        "enabled": True, "leader_election": {"enabled": True}}}}}),
    "split-collector-otlp-k8s-attributes": dict(SPLIT, **{"collector": {"config": {"otlp": {
        "k8s_attributes": True}}}}),
    "split-agent-no-metadata": dict(SPLIT, **{"agent": {"config": {"pod_logs": {"metadata": False}}},
                                              "collector": {"config": {"k8s": {"events": {"leader_election": {
                                                  "lease_name": "kobs-events-lease"}}}}}}),
}
