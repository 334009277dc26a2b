"""deploy/kustomize renders the same objects as the Helm chart's defaults, and is what
scripts/gen-kustomize.py makes of the chart today (a chart change without regeneration fails here)."""
import base64
import filecmp
import os
import shutil
import sys
import tempfile
import unittest

import yaml

from deploy_support import ROOT, docs, run, tool

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("gen_kustomize", os.path.join(ROOT, "scripts", "gen-kustomize.py"))
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

KUSTOMIZE = os.path.join(ROOT, "deploy", "kustomize")


def comparable(obj):
    if obj["kind"] == "Secret" and "stringData" in obj:
        obj = dict(obj)
        obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in obj.pop("stringData").items()}
    return obj


class Kustomize(unittest.TestCase):
    def test_overlays_equal_chart_defaults(self):
        for mode in gen.MODES:
            with self.subTest(mode=mode):
                built = docs(run([tool("kubectl"), "kustomize", os.path.join(KUSTOMIZE, "overlays", mode)]).stdout)
                chart = gen.render(mode)
                self.assertTrue(chart)
                got = {gen.key(o): comparable(o) for o in built}
                want = {gen.key(o): comparable(o) for o in chart}
                self.assertEqual(sorted(got), sorted(want))
                for k in want:
                    self.assertEqual(got[k], want[k], k)

    def test_tree_is_regenerated(self):
        tmp = tempfile.mkdtemp()
        try:
            run([sys.executable, os.path.join(ROOT, "scripts", "gen-kustomize.py"), tmp],
                env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
            for sub in ("base", "overlays"):
                cmp = filecmp.dircmp(os.path.join(tmp, sub), os.path.join(KUSTOMIZE, sub))
                diffs = []

                def walk(c, path):
                    diffs.extend(os.path.join(path, n) for n in c.left_only + c.right_only + c.diff_files)
                    for name, s in c.subdirs.items():
                        walk(s, os.path.join(path, name))
                walk(cmp, sub)
                self.assertEqual(diffs, [], "run scripts/gen-kustomize.py after changing the chart")
        finally:
            shutil.rmtree(tmp)

    def test_namespace_is_one_line(self):
        # Moving the install to another namespace is one edit, bindings included.
        tmp = tempfile.mkdtemp()
        try:
            shutil.copytree(KUSTOMIZE, os.path.join(tmp, "k"))
            kfile = os.path.join(tmp, "k", "overlays", "split", "kustomization.yaml")
            with open(kfile) as f:
                k = yaml.safe_load(f)
            k["namespace"] = "observability"
            with open(kfile, "w") as f:
                yaml.safe_dump(k, f)
            built = docs(run([tool("kubectl"), "kustomize", os.path.dirname(kfile)]).stdout)
            for o in built:
                if o["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
                    self.assertEqual(o["metadata"]["namespace"], "observability", gen.key(o))
                for s in o.get("subjects", []):
                    self.assertEqual(s["namespace"], "observability")
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()
