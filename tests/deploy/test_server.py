"""Against the real kube-apiserver (kobs_dev_cluster: etcd + kube-apiserver built from Go modules):
every rendering passes `kubectl apply --dry-run=server` (admission, defaulting, the server's own validation,
RBAC escalation checks), and the chart's RBAC, applied for real, lets each role's ServiceAccount make
exactly its calls (kubectl auth can-i, answered by the server's RBAC authorizer)."""
import os
import signal
import subprocess
import tempfile
import unittest

import json

from deploy_support import ROOT, SPLIT, VALUE_SETS, docs, render, run, tool
from test_rbac import COMMAND_OF_ROLE, expected_grants, load_calls  # noqa: F401  (same expectations)

import yaml


class Cluster:
    """kobs_dev_cluster as a child: prints the kubeconfig path, stops on SIGTERM."""

    def __init__(self):
        exe = os.environ.get("KOBS_DEV_CLUSTER")
        if not exe or not os.path.exists(exe):
            raise AssertionError("KOBS_DEV_CLUSTER (the kobs_dev_cluster target) not found: %r" % exe)
        self.proc = subprocess.Popen([exe], stdout=subprocess.PIPE, text=True)
        self.kubeconfig = None
        for line in self.proc.stdout:
            if line.startswith("kubeconfig: "):
                self.kubeconfig = line.split(": ", 1)[1].strip()
                break
        if not self.kubeconfig:
            self.proc.wait()
            raise AssertionError("kobs_dev_cluster exited %s before printing a kubeconfig" % self.proc.returncode)

    def kubectl(self, *args, check=True, stdin=None):
        return run([tool("kubectl"), "--kubeconfig", self.kubeconfig] + list(args), check=check, input=stdin)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


CLUSTER = None


def setUpModule():
    global CLUSTER
    CLUSTER = Cluster()
    for ns in ("obs", "krateo-system"):
        CLUSTER.kubectl("create", "namespace", ns)


def tearDownModule():
    CLUSTER.stop()


class ServerDryRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = CLUSTER

    def apply_dry_run(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(text)
            f.flush()
            return self.cluster.kubectl("apply", "--dry-run=server", "-f", f.name, check=False)

    def test_every_value_set_passes_server_dry_run(self):
        for name, values in VALUE_SETS.items():
            with self.subTest(values=name):
                text = render(values, namespace="obs")
                p = self.apply_dry_run(text)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                n = len(docs(text))
                self.assertEqual(p.stdout.count("(server dry run)"), n, p.stdout)
        # Nothing was created.
        p = self.cluster.kubectl("get", "statefulsets,deployments,daemonsets,configmaps", "-n", "obs", "-o", "name")
        self.assertNotIn("kobs", p.stdout)

    def test_kustomize_overlays_pass_server_dry_run(self):
        CLUSTER.kubectl("create", "namespace", "kobs", check=False)
        for mode in ("all-in-one", "split"):
            with self.subTest(mode=mode):
                text = run([tool("kubectl"), "kustomize", os.path.join(ROOT, "deploy", "kustomize", "overlays", mode)]).stdout
                p = self.apply_dry_run(text)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertEqual(p.stdout.count("(server dry run)"), len(docs(text)))

    def test_server_refuses_what_it_should(self):
        # The server side is a real check: an object it cannot accept fails the dry run.
        text = render(SPLIT, namespace="obs").replace("minAvailable: 1", "minAvailable: -1", 1)
        p = self.apply_dry_run(text)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("minAvailable", p.stderr)

    def test_service_accounts_can_do_exactly_their_calls(self):
        values = VALUE_SETS["split-hpa-sts-namespaces-authz"]
        self.cluster.kubectl("create", "namespace", "demo", check=False)
        objects = docs(render(values, namespace="obs"))
        rbac = [o for o in objects if o["kind"] in ("ServiceAccount", "Role", "RoleBinding", "ClusterRole",
                                                    "ClusterRoleBinding")]
        p = self.cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(rbac))
        self.assertIn("clusterrole.rbac.authorization.k8s.io/kobs-collector created", p.stdout)
        spec = load_calls()
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "helm", "kobs", "values.yaml")) as f:
            resolver = yaml.safe_load(f)["rbac"]["compositionResolver"]
        cm = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "kobs-config"][0]
        want = {f[:-5]: expected_grants(spec, yaml.safe_load(t), f[:-5], "obs", resolver) for f, t in cm["data"].items()}
        every = set().union(*want.values())
        self.assertTrue(all(want[r] for r in ("agent", "collector", "serve")), want)

        def can(role, grant):
            ns, group, resource, verb, name = grant
            res = resource if resource != "*" else "fireworksapps"
            res, _, sub = res.partition("/")
            target = res + ("." + group if group else "") + ("/" + name if name else "")
            where = ["-n", ns] if ns else ["-A"]
            where += ["--subresource", sub] if sub else []
            p = self.cluster.kubectl("auth", "can-i", verb, target, *where,
                                     "--as", "system:serviceaccount:obs:kobs-" + role, check=False)
            return p.stdout.strip() == "yes"

        for role, grants in want.items():
            for g in sorted(grants, key=str):
                with self.subTest(role=role, grant=g):
                    self.assertTrue(can(role, g), "denied")
            for g in sorted(every - grants, key=str):
                covered = any(h[1:] == g[1:] and h[0] == "" and h[4] is None for h in grants)
                if covered:
                    continue
                with self.subTest(role=role, not_granted=g):
                    self.assertFalse(can(role, g), "allowed beyond its calls")
        # A few calls no role makes.
        for role in want:
            for args in (["get", "secrets", "-n", "obs"], ["list", "pods", "-n", "obs"] if role != "agent" else
                         ["delete", "pods", "-n", "obs"], ["create", "events", "-n", "obs"],
                         ["delete", "leases", "-n", "obs"]):
                with self.subTest(role=role, call=args):
                    p = self.cluster.kubectl("auth", "can-i", *args, "--as", "system:serviceaccount:obs:kobs-" + role,
                                             check=False)
                    self.assertEqual(p.stdout.strip(), "no")


class InstallScript(unittest.TestCase):
    """install.sh against the real API server (helm and kubectl pinned; no kubelet, so no --wait)."""

    def install(self, *args, check=True):
        env = dict(os.environ, KUBECTL=tool("kubectl"), HELM=tool("helm"))
        return run([os.path.join(ROOT, "install.sh"), "--kubeconfig", CLUSTER.kubeconfig] + list(args),
                   check=check, env=env)

    def snapshot(self):
        kinds = ("namespaces,secrets,configmaps,serviceaccounts,services,statefulsets,deployments,daemonsets,"
                 "jobs,poddisruptionbudgets,networkpolicies,roles,rolebindings,leases")
        names = CLUSTER.kubectl("get", kinds, "-A", "-o", "name").stdout.split()
        names += CLUSTER.kubectl("get", "clusterroles,clusterrolebindings", "-o", "name").stdout.split()
        return sorted(names)

    def test_dry_run_changes_nothing(self):
        before = self.snapshot()
        for args in (["--namespace", "kobs-dry"],
                     ["--namespace", "obs", "--mode", "split", "--clickhouse-url", "http://ch.example:8123",
                      "--clickhouse-user", "kobs", "--krateo", "--set", "config.log.level=debug"]):
            with self.subTest(args=args):
                p = self.install("--dry-run", *args)
                self.assertIn("Plan (", p.stdout)
                self.assertIn("nothing changed", p.stdout)
                self.assertIn("kobs-config", p.stdout)
        self.assertIn("create namespace kobs-dry", self.install("--dry-run", "--namespace", "kobs-dry").stdout)
        self.assertIn("the API server accepted every object",
                      self.install("--dry-run", "--namespace", "obs").stdout)
        self.assertEqual(self.snapshot(), before)

    def test_refuses_bad_options(self):
        for args, why in ((["--mode", "split"], "needs --clickhouse-url"),
                          (["--mode", "both"], "--mode must be"),
                          (["--clickhouse-url", "ch:8123"], "http://"),
                          (["--frobnicate"], "unknown option")):
            with self.subTest(args=args):
                p = self.install(*args, check=False)
                self.assertEqual(p.returncode, 2)
                self.assertIn(why, p.stderr)

    def test_install_twice_then_uninstall(self):
        before = self.snapshot()
        p = self.install("--namespace", "kobs-real", "--no-wait", "--set", "config.log.level=debug")
        self.assertIn("create namespace kobs-real", p.stdout)
        self.assertIn("http://kobs.kobs-real.svc:8080", p.stdout)
        sts = json.loads(CLUSTER.kubectl("get", "statefulset", "kobs-all", "-n", "kobs-real", "-o", "json").stdout)
        self.assertEqual(sts["spec"]["template"]["spec"]["containers"][0]["args"][0], "all")
        # Idempotent: the second run upgrades in place.
        p = self.install("--namespace", "kobs-real", "--no-wait", "--set", "config.log.level=info")
        self.assertIn("helm upgrade release kobs", p.stdout)
        cm = json.loads(CLUSTER.kubectl("get", "configmap", "kobs-config", "-n", "kobs-real", "-o", "json").stdout)
        self.assertIn("level: info", cm["data"]["all.yaml"])
        p = self.install("--namespace", "kobs-real", "--uninstall")
        self.assertIn("helm uninstall kobs -n kobs-real", p.stdout)
        self.assertIn("not installed", self.install("--namespace", "kobs-real", "--uninstall").stdout)
        CLUSTER.kubectl("delete", "namespace", "kobs-real", "--wait=false")
        after = [n for n in self.snapshot() if "kobs-real" not in n]
        self.assertEqual(after, [n for n in before if "kobs-real" not in n])


if __name__ == "__main__":
    unittest.main()
