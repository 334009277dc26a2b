"""Least privilege: each role's rendered RBAC grants exactly the API calls its configuration makes
(deploy/rbac-calls.yaml), and that list matches the code under src/."""
import glob
import os
import re
import unittest

import yaml

from deploy_support import ROOT, VALUE_SETS, by_kind, docs, render, run, tool

CALLS_FILE = os.path.join(ROOT, "deploy", "rbac-calls.yaml")
COMMAND_OF_ROLE = {"all": "all", "agent": "collect", "collector": "collect", "serve": "serve", "alert": "alert"}


def load_calls():
    with open(CALLS_FILE, encoding="utf-8") as f:
        return yaml.safe_load(f)


def flat(node, prefix=""):
    out = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(flat(v, prefix + "." + str(k) if prefix else str(k)))
    else:
        out[prefix] = node
    return out


def as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def expected_grants(spec, cfg, role, namespace, resolver_kinds):
    """The (namespace, group, resource, verb, name) tuples the role's configuration needs."""
    cfg = flat(cfg)

    def get(key):
        return as_text(cfg[key]) if key in cfg else spec["defaults"][key]

    out = set()
    for call in spec["calls"]:
        if COMMAND_OF_ROLE[role] not in call["roles"]:
            continue
        if not all(get(k) not in ("", "false") for k in call["when"]):
            continue
        scope = call["scope"]
        if scope == "cluster":
            namespaces = [""]
        elif scope == "release-namespace":
            namespaces = [namespace]
        elif scope.startswith("namespace-from:"):
            namespaces = [get(scope.split(":", 1)[1])]
        elif scope.startswith("namespaces-from:"):
            listed = get(scope.split(":", 1)[1])
            namespaces = [n.strip() for n in listed.split(",")] if listed else [""]
        else:
            raise AssertionError("unknown scope " + scope)
        if call["resources"] == "<compositionResolver>":
            pairs = [(k["group"], r) for k in resolver_kinds for r in k["resources"]]
        else:
            pairs = [(call["apiGroup"], r) for r in call["resources"]]
        name = get(call["resourceNames-from"]) if "resourceNames-from" in call else None
        for ns in namespaces:
            for group, resource in pairs:
                for verb in call["verbs"]:
                    out.add((ns, group, resource, verb, name))
    return out


def rendered_grants(objects, sa_name, sa_namespace):
    roles = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
             for o in objects if o["kind"] in ("Role", "ClusterRole")}
    out = set()
    for b in by_kind(objects, "RoleBinding") + by_kind(objects, "ClusterRoleBinding"):
        if not any(s["kind"] == "ServiceAccount" and s["name"] == sa_name and s["namespace"] == sa_namespace
                   for s in b["subjects"]):
            continue
        ns = b["metadata"].get("namespace", "") if b["kind"] == "RoleBinding" else ""
        ref = b["roleRef"]
        role = roles[(ref["kind"], ns if ref["kind"] == "Role" else "", ref["name"])]
        for rule in role["rules"]:
            names = rule.get("resourceNames") or [None]
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    for v in rule["verbs"]:
                        for n in names:
                            out.add((ns, g, r, v, n))
    return out


class RenderedRbac(unittest.TestCase):
    def test_each_role_gets_exactly_its_calls(self):
        spec = load_calls()
        with open(os.path.join(ROOT, "deploy", "helm", "kobs", "values.yaml"), encoding="utf-8") as f:
            chart_values = yaml.safe_load(f)
        resolver = chart_values["rbac"]["compositionResolver"]
        seen_calls = set()
        for name, values in VALUE_SETS.items():
            objects = docs(render(values, namespace="obs"))
            cm = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "kobs-config"][0]
            for file, text in cm["data"].items():
                role = file[:-len(".yaml")]
                cfg = yaml.safe_load(text)
                with self.subTest(values=name, role=role):
                    want = expected_grants(spec, cfg, role, "obs", resolver)
                    got = rendered_grants(objects, "kobs-" + role, "obs")
                    self.assertEqual(sorted(got - want, key=str), [], "granted but never called")
                    self.assertEqual(sorted(want - got, key=str), [], "called but not granted")
                    seen_calls |= {c["id"] for c in spec["calls"] if any(
                        (g[2] in c.get("resources", []) or c["resources"] == "<compositionResolver>") for g in want)}
            # No wildcard verbs and nothing bound to a subject the chart does not own.
            for r in by_kind(objects, "Role") + by_kind(objects, "ClusterRole"):
                for rule in r["rules"]:
                    self.assertNotIn("*", rule["verbs"], r["metadata"]["name"])
                    self.assertNotIn("*", rule["apiGroups"], r["metadata"]["name"])
        # The value sets exercise every listed call at least once.
        self.assertEqual(sorted({c["id"] for c in spec["calls"]} - seen_calls), [])

    def test_grant_follows_config(self):
        spec = load_calls()
        objects = docs(render({"config": {"k8s": {"events": {"enabled": False}}}}))
        self.assertEqual(rendered_grants(objects, "kobs-all", "obs"), set())
        self.assertEqual(by_kind(objects, "ClusterRole"), [])
        self.assertTrue(spec["calls"])


class CodeAgreesWithList(unittest.TestCase):
    LITERAL = re.compile(r'\{\s*"([a-z0-9.]*)"\s*,\s*"(v[0-9a-z]+)"\s*,\s*"([a-z/]+)"\s*\}')
    HELPERS = {"coreEvents()": ("", "events"), "eventsV1()": ("events.k8s.io", "events"),
               "leases()": ("coordination.k8s.io", "leases")}

    def code_refs(self):
        """(group, resource, file) of every resource the code names, and the files that fetch by kind."""
        refs, dynamic = set(), set()
        for path in glob.glob(os.path.join(ROOT, "src", "**", "*.*"), recursive=True):
            if not path.endswith((".cc", ".h")):
                continue
            rel = os.path.relpath(path, ROOT)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if rel == "src/k8s/resource.h":
                continue  # where the helpers are defined, not called
            code = re.sub(r"//[^\n]*", "", text)
            for m in self.LITERAL.finditer(code):
                refs.add((m.group(1), m.group(3), rel))
            for helper, gr in self.HELPERS.items():
                if re.search(r"\b" + re.escape(helper), code):
                    refs.add(gr + (rel,))
            if re.search(r"\b(getObject|apiFetcher)\(", code) and not rel.startswith(
                    ("src/k8s/", "src/collect/composition/")):
                dynamic.add(rel)
        return refs, dynamic

    def test_every_resource_the_code_addresses_is_listed(self):
        spec = load_calls()
        listed = {(c.get("apiGroup"), r) for c in spec["calls"] if c["resources"] != "<compositionResolver>"
                  for r in c["resources"]}
        refs, dynamic = self.code_refs()
        self.assertTrue(refs)
        missing = sorted((g, r, f) for g, r, f in refs if (g, r) not in listed)
        self.assertEqual(missing, [], "the code calls these; list them in deploy/rbac-calls.yaml and "
                                      "grant them in deploy/helm/kobs/templates/_rbac.tpl")
        resolver_files = {f for c in spec["calls"] if c["resources"] == "<compositionResolver>" for f in c["code"]}
        self.assertEqual(sorted(dynamic - resolver_files), [], "fetches by kind outside the listed resolver calls")

    def test_every_listed_call_is_in_the_code(self):
        spec = load_calls()
        refs, _ = self.code_refs()
        by_pair = {(g, r) for g, r, _ in refs}
        for c in spec["calls"]:
            with self.subTest(call=c["id"]):
                texts = []
                for f in c["code"]:
                    path = os.path.join(ROOT, f)
                    self.assertTrue(os.path.exists(path), f)
                    with open(path, encoding="utf-8") as fh:
                        texts.append(fh.read())
                self.assertTrue(any(c["ref"] in t for t in texts), "%r not in %s" % (c["ref"], c["code"]))
                if c["resources"] != "<compositionResolver>" and c.get("via") != "kubelet":
                    for r in c["resources"]:
                        self.assertIn((c["apiGroup"], r), by_pair, "listed but the code never addresses it")

    def test_defaults_match_kobs(self):
        spec = load_calls()
        ref = run([tool("kobs"), "config-reference"]).stdout
        defaults = {}
        for line in ref.splitlines():
            m = re.match(r"^\| `([^`]+)` \| [^|]*(?:\\\|[^|]*)* \| (`([^`]*)`)? *\|", line)
            if m:
                defaults[m.group(1)] = m.group(3) or ""
        for key, value in spec["defaults"].items():
            with self.subTest(key=key):
                self.assertIn(key, defaults)
                self.assertEqual(defaults[key], value)


if __name__ == "__main__":
    unittest.main()
