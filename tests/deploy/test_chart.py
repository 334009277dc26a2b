"""The Helm chart: lint, render in both modes and several value sets, validate every object offline against
the Kubernetes JSON schemas (strict), and check what the objects say against what kobs does."""
import os
import shutil
import tempfile
import unittest

import yaml

from deploy_support import (CHART, ROOT, SPLIT, VALUE_SETS, by_kind, docs, find, render, run, tool)


def flatten(node, prefix=""):
    out = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(flatten(v, prefix + "." + str(k) if prefix else str(k)))
    else:
        out[prefix] = node
    return out


class Lint(unittest.TestCase):
    def test_lint_every_value_set(self):
        for name, values in VALUE_SETS.items():
            with self.subTest(values=name), tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                yaml.safe_dump(values, f)
                f.flush()
                p = run([tool("helm"), "lint", "--strict", CHART, "-f", f.name], check=False)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_values_schema_refuses_bad_values(self):
        for bad, why in [({"mode": "both"}, "/mode"),
                         ({"mode": "split"}, "clickhouse"),
                         ({"ports": {"http": 0}}, "/ports/http"),
                         ({"serve": {"replicas": "two"}}, "/serve/replicas"),
                         ({"collector": {"replica": 2}}, "replica")]:
            with self.subTest(values=bad):
                with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                    yaml.safe_dump(bad, f)
                    f.flush()
                    p = run([tool("helm"), "template", "kobs", CHART, "-f", f.name], check=False)
                self.assertNotEqual(p.returncode, 0, "accepted %r" % bad)
                self.assertIn(why, p.stderr)


class Validate(unittest.TestCase):
    def test_kubeconform_strict_every_value_set(self):
        tmp = tempfile.mkdtemp()
        try:
            for name, values in VALUE_SETS.items():
                with open(os.path.join(tmp, name + ".yaml"), "w") as f:
                    f.write(render(values))
            schemas = tool("schemas")
            p = run([tool("kubeconform"), "-strict", "-summary", "-output", "text",
                     "-schema-location", schemas + "/{{ .ResourceKind }}{{ .KindSuffix }}.json", tmp], check=False)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("Invalid: 0, Errors: 0, Skipped: 0", p.stdout)
        finally:
            shutil.rmtree(tmp)

    def test_kubeconform_catches_a_misspelt_field(self):
        # The validator is not a rubber stamp: a typo in a securityContext is refused.
        text = render({}).replace("readOnlyRootFilesystem: true", "readOnlyRootFilesytem: true", 1)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(text)
            f.flush()
            p = run([tool("kubeconform"), "-strict", "-schema-location",
                     tool("schemas") + "/{{ .ResourceKind }}{{ .KindSuffix }}.json", f.name], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("readOnlyRootFilesytem", p.stdout)


class Shapes(unittest.TestCase):
    def test_all_in_one(self):
        o = docs(render({}))
        sts = find(o, "StatefulSet", "kobs-all")
        self.assertEqual(sts["spec"]["replicas"], 1)
        self.assertEqual(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data")
        c = sts["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["args"][0], "all")
        self.assertTrue(c["image"].endswith("-embedded"))
        self.assertEqual(by_kind(o, "Deployment") + by_kind(o, "DaemonSet"), [])
        # The embedded store is not given a server URL (CLICKHOUSE_URL would switch the store to a server).
        self.assertNotIn("CLICKHOUSE_URL", [e["name"] for e in c["env"]])
        self.assertEqual(by_kind(o, "Secret"), [])

    def test_split(self):
        o = docs(render(SPLIT))
        ds = find(o, "DaemonSet", "kobs-agent")
        pod = ds["spec"]["template"]["spec"]
        vols = {v["name"]: v for v in pod["volumes"]}
        self.assertEqual(vols["pod-logs"]["hostPath"]["path"], "/var/log/pods")
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        self.assertTrue(mounts["pod-logs"]["readOnly"])
        self.assertEqual(vols["data"]["hostPath"]["type"], "DirectoryOrCreate")
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        self.assertEqual(env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName")
        col = find(o, "Deployment", "kobs-collector")
        self.assertEqual(col["spec"]["replicas"], 2)
        self.assertEqual(col["spec"]["template"]["spec"]["containers"][0]["args"][0], "collect")
        srv = find(o, "Deployment", "kobs-serve")
        self.assertEqual(srv["spec"]["replicas"], 2)
        self.assertEqual(srv["spec"]["template"]["spec"]["containers"][0]["args"][0], "serve")
        self.assertFalse(srv["spec"]["template"]["spec"]["automountServiceAccountToken"],
                         "serve makes no API call by default: no token")
        ports = {p["name"]: p["port"] for p in find(o, "Service", "kobs")["spec"]["ports"]}
        self.assertEqual(ports, {"http": 8080, "presenter": 8083, "mcp": 8000})
        ports = {p["name"]: p["port"] for p in find(o, "Service", "kobs-collector")["spec"]["ports"]}
        self.assertEqual(ports, {"http": 8080, "otlp-http": 4318, "otlp-grpc": 4317})
        for role in ("collector", "serve"):
            self.assertEqual(find(o, "PodDisruptionBudget", "kobs-" + role)["spec"]["minAvailable"], 1)
        secret = find(o, "Secret", "kobs-clickhouse")
        self.assertEqual(secret["stringData"]["url"], SPLIT["clickhouse"]["url"])
        for wl in (ds, col, srv):
            env = {e["name"]: e for e in wl["spec"]["template"]["spec"]["containers"][0]["env"]}
            self.assertEqual(env["CLICKHOUSE_PASSWORD"]["valueFrom"]["secretKeyRef"],
                             {"name": "kobs-clickhouse", "key": "password"})
        job = find(o, "Job", "kobs-schema")
        self.assertEqual(job["spec"]["template"]["spec"]["containers"][0]["args"][:2], ["schema", "apply"])
        self.assertEqual(by_kind(o, "StatefulSet"), [])

    def test_every_pod_is_hardened_and_probed(self):
        for name, values in VALUE_SETS.items():
            for w in [x for x in docs(render(values)) if x["kind"] in ("StatefulSet", "Deployment", "DaemonSet")]:
                with self.subTest(values=name, workload=w["metadata"]["name"]):
                    pod = w["spec"]["template"]["spec"]
                    c = pod["containers"][0]
                    sc = c["securityContext"]
                    self.assertFalse(sc["allowPrivilegeEscalation"])
                    self.assertTrue(sc["readOnlyRootFilesystem"])
                    self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
                    self.assertNotIn("add", sc["capabilities"])
                    agent = w["kind"] == "DaemonSet"
                    # Only the agent runs as root (kubelet's log files); every other pod is non-root.
                    self.assertEqual(pod["securityContext"]["runAsNonRoot"], not agent)
                    host_paths = [v["name"] for v in pod["volumes"] if "hostPath" in v]
                    want_host = ["data", "pod-logs"]
                    if agent and values.get("agent", {}).get("hostMetrics", {}).get("enabled", True):
                        want_host.append("host-root")
                        mounts = {m["name"]: m for m in c["volumeMounts"]}
                        self.assertTrue(mounts["host-root"]["readOnly"])
                    self.assertEqual(sorted(host_paths), sorted(want_host) if agent else [])
                    self.assertEqual(pod.get("hostPID", False), agent and "host-root" in host_paths)
                    self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
                    self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
                    self.assertIn("memory", c["resources"]["limits"])
                    self.assertIn("cpu", c["resources"]["requests"])
                    self.assertIn("data", [m["name"] for m in c["volumeMounts"]])

    def test_network_policies_open_only_listening_ports(self):
        o = docs(render(VALUE_SETS["split-hpa-sts-namespaces-authz"]))
        serve = find(o, "NetworkPolicy", "kobs-serve")["spec"]["ingress"]
        ports = sorted(p["port"] for rule in serve for p in rule["ports"])
        self.assertEqual(ports, ["http", "mcp", "presenter"])
        restricted = [r for r in serve if "from" in r]
        self.assertTrue(restricted and all(r["from"][0]["namespaceSelector"] for r in restricted))
        agent = find(o, "NetworkPolicy", "kobs-agent")["spec"]["ingress"]
        self.assertEqual([p["port"] for r in agent for p in r["ports"]], ["http"])
        # Every port a policy names is a port of the pods it selects.
        for np in by_kind(o, "NetworkPolicy"):
            role = np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            w = [x for x in o if x["kind"] in ("Deployment", "DaemonSet", "StatefulSet")
                 and x["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == role][0]
            names = {p["name"] for p in w["spec"]["template"]["spec"]["containers"][0]["ports"]}
            for rule in np["spec"]["ingress"]:
                for p in rule["ports"]:
                    self.assertIn(p["port"], names, np["metadata"]["name"])

    def test_services_target_named_ports_of_their_pods(self):
        for name, values in VALUE_SETS.items():
            o = docs(render(values))
            for svc in by_kind(o, "Service"):
                sel = svc["spec"]["selector"]
                pods = [x for x in o if x["kind"] in ("Deployment", "DaemonSet", "StatefulSet") and all(
                    x["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())]
                with self.subTest(values=name, service=svc["metadata"]["name"]):
                    self.assertEqual(len(pods), 1)
                    names = {p["name"] for p in pods[0]["spec"]["template"]["spec"]["containers"][0]["ports"]}
                    for p in svc["spec"]["ports"]:
                        self.assertIn(p["targetPort"], names)


class Config(unittest.TestCase):
    """The ConfigMap holds one file per role; kobs itself must accept each (unknown keys stop its start)."""

    def role_configs(self, values):
        cm = find(docs(render(values)), "ConfigMap", "kobs-config")
        return {k[:-len(".yaml")]: yaml.safe_load(v) for k, v in cm["data"].items()}

    def test_kobs_accepts_every_rendered_config(self):
        kobs = tool("kobs")
        for name, values in VALUE_SETS.items():
            for role, cfg in self.role_configs(values).items():
                with self.subTest(values=name, role=role), tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                    yaml.safe_dump(cfg, f)
                    f.flush()
                    # `schema print` loads and checks the whole configuration, then prints DDL without a store.
                    p = run([kobs, "schema", "print", "--config", f.name], check=False)
                    self.assertEqual(p.returncode, 0, p.stderr)

    def test_any_config_key_reaches_every_role_and_role_config_wins(self):
        cfgs = self.role_configs(dict(SPLIT, config={"log": {"level": "debug"}, "schema": {"ttl": "30d"},
                                                     "otlp": {"http_listen": ":9999"}},
                                      agent={"config": {"log": {"level": "warn"}}}))
        self.assertEqual(flatten(cfgs["serve"])["log.level"], "debug")
        self.assertEqual(flatten(cfgs["collector"])["schema.ttl"], "30d")
        self.assertEqual(flatten(cfgs["agent"])["log.level"], "warn")
        # The user's value wins over the chart's role keys, false and empty included.
        self.assertEqual(flatten(cfgs["collector"])["otlp.http_listen"], ":9999")
        cfgs = self.role_configs(dict(SPLIT, agent={"config": {"pod_logs": {"enabled": False}}}))
        self.assertIs(flatten(cfgs["agent"])["pod_logs.enabled"], False)

    def test_roles_run_their_parts(self):
        f = {r: flatten(c) for r, c in self.role_configs(SPLIT).items()}
        self.assertIs(f["agent"]["pod_logs.enabled"], True)
        self.assertIs(f["agent"]["k8s.events.enabled"], False)
        self.assertEqual(f["agent"]["otlp.http_listen"], "")
        self.assertIs(f["collector"]["k8s.events.leader_election.enabled"], True)
        self.assertIs(f["collector"]["pod_logs.enabled"], False)
        self.assertIs(f["agent"]["host_metrics.enabled"], True)
        self.assertEqual(f["agent"]["host_metrics.root"], "/host")
        self.assertIs(f["agent"]["kubelet_stats.enabled"], True)
        self.assertIs(f["collector"]["host_metrics.enabled"], False)
        self.assertEqual(f["serve"]["presenter.listen"], ":8083")
        for role in f:
            self.assertEqual(f[role]["store.kind"], "clickhouse")
            self.assertEqual(f[role]["data_dir"], "/var/lib/kobs")
        f = flatten(self.role_configs({})["all"])
        self.assertEqual(f["store.kind"], "embedded")
        self.assertEqual(f["serve.clickhouse_listen"], ":8123")

    def test_mcp_token_from_a_secret_reaches_only_the_serving_pods(self):
        def token_env(values):
            out = {}
            for o in docs(render(values)):
                if o["kind"] not in ("Deployment", "StatefulSet", "DaemonSet"):
                    continue
                for c in o["spec"]["template"]["spec"]["containers"]:
                    out[o["metadata"]["name"]] = [e for e in c.get("env", []) if e["name"] == "CLICKHOUSE_MCP_AUTH_TOKEN"]
            return out
        secret = {"mcp": {"authTokenSecret": {"name": "mcp-token", "key": "t"}}}
        want = [{"name": "CLICKHOUSE_MCP_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "mcp-token", "key": "t"}}}]
        split = token_env(dict(SPLIT, **secret))
        self.assertEqual({n: e for n, e in split.items() if e}, {n: want for n in split if n.endswith("-serve")})
        self.assertEqual(list(token_env(secret).values()), [want])  # allInOne: its one pod
        self.assertFalse(any(token_env({}).values()))  # no Secret named: nothing

    def test_config_change_rolls_the_pods(self):
        a = find(docs(render({})), "StatefulSet", "kobs-all")
        b = find(docs(render({"config": {"log": {"level": "debug"}}})), "StatefulSet", "kobs-all")
        key = "checksum/config"
        self.assertNotEqual(a["spec"]["template"]["metadata"]["annotations"][key],
                            b["spec"]["template"]["metadata"]["annotations"][key])


class AlertRules(unittest.TestCase):
    def test_chart_rules_equal_deploy_alert_rules(self):
        src = os.path.join(ROOT, "deploy", "alert-rules")
        dst = os.path.join(CHART, "files", "alert-rules")

        def rules(d):
            if not os.path.isdir(d):
                return {}
            return {n: open(os.path.join(d, n), encoding="utf-8").read() for n in os.listdir(d)
                    if n.endswith((".yaml", ".yml"))}
        self.assertEqual(rules(dst), rules(src),
                         "cp deploy/alert-rules/*.y*ml deploy/helm/kobs/files/alert-rules/ (the chart ships them)")

    def test_rules_configmap_mounted_in_serving_roles(self):
        o = docs(render(dict(SPLIT, alerts={"rules": {"extra.yaml": "name: x\n"}})))
        cm = find(o, "ConfigMap", "kobs-alert-rules")
        self.assertEqual(cm["data"]["extra.yaml"], "name: x\n")
        al = find(o, "Deployment", "kobs-alert")
        self.assertEqual(al["spec"]["strategy"]["type"], "Recreate")
        self.assertEqual(al["spec"]["template"]["spec"]["containers"][0]["args"][0], "alert")
        self.assertIn("alert-rules", [v["name"] for v in al["spec"]["template"]["spec"]["volumes"]])
        cfg = yaml.safe_load(find(o, "ConfigMap", "kobs-config")["data"]["alert.yaml"])
        self.assertEqual(flatten(cfg)["alert.rules_file"], "/etc/kobs/alert-rules")
        self.assertIn("default.yaml", cm["data"], "the default rule ships with the chart")
        col = find(o, "Deployment", "kobs-collector")["spec"]["template"]["spec"]
        self.assertNotIn("alert-rules", [v["name"] for v in col["volumes"]])


class Krateo(unittest.TestCase):
    def test_endpoint_secret_and_frontend_snippet(self):
        import json
        o = docs(render({"krateo": {"enabled": True}}))
        sec = find(o, "Secret", "clickhouse-internal-endpoint")
        self.assertEqual(sec["metadata"]["namespace"], "krateo-system")
        # All-in-one: the RESTAction's /events is kobs's own ClickHouse-compatible port.
        self.assertEqual(sec["stringData"]["server-url"], "http://kobs.obs.svc:8123")
        cfg = json.loads(find(o, "ConfigMap", "kobs-krateo-frontend")["data"]["config-api.json"])
        self.assertEqual(cfg, {"EVENTS_API_BASE_URL": "http://kobs.obs.svc:8083",
                               "EVENTS_PUSH_API_BASE_URL": "http://kobs.obs.svc:8083"})
        # Split: the ClickHouse server with the /events handler (deploy/clickhouse-config).
        o = docs(render(dict(SPLIT, krateo={"enabled": True})))
        self.assertEqual(find(o, "Secret", "clickhouse-internal-endpoint")["stringData"]["server-url"],
                         SPLIT["clickhouse"]["url"])

    def test_restaction_template_names_the_endpoint_secret(self):
        with open(os.path.join(ROOT, "deploy", "blueprint-templates", "restaction.composition-events.yaml")) as f:
            text = f.read()
        with open(os.path.join(CHART, "values.yaml")) as f:
            name = yaml.safe_load(f)["krateo"]["endpointSecretName"]
        self.assertIn("name: " + name, text)


class ClickStack(unittest.TestCase):
    def test_post_renderer_mounts_the_events_handler(self):
        # A Deployment shaped as ClickStack 1.1.1 renders its ClickHouse (name <release>-clickhouse).
        deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "krateo-clickstack-clickhouse"},
                      "spec": {"selector": {"matchLabels": {"app": "ch"}}, "template": {
                          "metadata": {"labels": {"app": "ch"}},
                          "spec": {"containers": [{"name": "clickhouse", "image": "clickhouse-server",
                                                   "volumeMounts": [{"name": "config", "mountPath": "/x"}]}],
                                   "volumes": [{"name": "config", "configMap": {"name": "c"}}]}}}}
        other = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "krateo-clickstack-app"},
                 "spec": {"ports": [{"port": 3000}]}}
        p = run([os.path.join(ROOT, "deploy", "clickstack", "post-render.sh")],
                input=yaml.safe_dump_all([deployment, other]), env=dict(os.environ, KUBECTL=tool("kubectl")))
        out = {o["metadata"]["name"]: o for o in docs(p.stdout)}
        self.assertEqual(out["krateo-clickstack-app"], other)
        pod = out["krateo-clickstack-clickhouse"]["spec"]["template"]["spec"]
        self.assertIn({"name": "kobs-http-handlers", "configMap": {"name": "clickhouse-http-handlers"}},
                      pod["volumes"])
        mount = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "kobs-http-handlers"][0]
        self.assertEqual(mount["mountPath"], "/etc/clickhouse-server/config.d/http-handlers.xml")
        with open(os.path.join(ROOT, "deploy", "clickhouse-config", "configmap.yaml")) as f:
            cm = yaml.safe_load(f)
        self.assertEqual(cm["metadata"]["name"], "clickhouse-http-handlers")
        self.assertIn(mount["subPath"], cm["data"])

    def test_values_name_the_kobs_user(self):
        with open(os.path.join(ROOT, "deploy", "clickstack", "values.yaml")) as f:
            v = yaml.safe_load(f)
        self.assertEqual(v["clickhouse"]["config"]["users"]["otelUserName"], "kobs")
        self.assertFalse(v["otel"]["enabled"])
        self.assertEqual(v["hyperdx"]["otelExporterEndpoint"], "http://kobs-collector.kobs.svc:4318")


class Image(unittest.TestCase):
    """The Dockerfile, read statically (deploy/image/build.sh builds it; too heavy for the suite)."""

    def read(self, name):
        with open(os.path.join(ROOT, name), encoding="utf-8") as f:
            return f.read()

    def test_every_copied_path_exists_and_passes_dockerignore(self):
        allowed = [l[1:].rstrip("/") for l in self.read(".dockerignore").splitlines() if l.startswith("!")]
        self.assertIn("*", [l.strip() for l in self.read(".dockerignore").splitlines()])
        copies = []
        for line in self.read("Dockerfile").splitlines():
            parts = line.split()
            if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
                copies += parts[1:-1]
        self.assertTrue(copies)
        for src in copies:
            with self.subTest(src=src):
                self.assertTrue(os.path.exists(os.path.join(ROOT, src)), src)
                self.assertTrue(any(src.rstrip("/") == a or src.startswith(a + "/") for a in allowed),
                                "%s is excluded by .dockerignore" % src)

    def test_runtime_is_non_root_scratch_with_kobs_entrypoint(self):
        text = self.read("Dockerfile")
        final = text[text.rindex("\nFROM "):]
        self.assertIn("FROM scratch", final)
        self.assertIn("USER 65532:65532", final)
        self.assertIn('ENTRYPOINT ["/usr/bin/kobs"]', final)
        self.assertIn("ARG WITH_CHDB=0", text)
        with open(os.path.join(CHART, "values.yaml")) as f:
            v = yaml.safe_load(f)
        # The chart's pods run as the image's user, and allInOne runs the WITH_CHDB=1 tag.
        self.assertEqual(v["podSecurityContext"]["runAsUser"], 65532)
        self.assertEqual(v["image"]["embeddedSuffix"], "-embedded")


class ShellCheck(unittest.TestCase):
    def test_scripts_are_shellcheck_clean(self):
        import glob
        scripts = [os.path.join(ROOT, "install.sh"), os.path.join(ROOT, "scripts", "setup-deploy-tools.sh")]
        scripts += glob.glob(os.path.join(ROOT, "deploy", "**", "*.sh"), recursive=True)
        self.assertIn(os.path.join(ROOT, "deploy", "image", "build.sh"), scripts)
        sc = shutil.which("shellcheck")
        self.assertIsNotNone(sc, "shellcheck not installed (Debian package shellcheck; scripts/setup.sh)")
        p = run([sc, "--severity=style"] + scripts, check=False)
        self.assertEqual(p.returncode, 0, p.stdout)


if __name__ == "__main__":
    unittest.main()
