#!/usr/bin/env python3
"""Turns Kubernetes' OpenAPI v2 document (api/openapi-spec/swagger.json of the
k8s.io/kubernetes module) into one standalone, strict JSON schema per built-in
kind, named as kubeconform looks them up: <kind>-<version>.json for the core
group, <kind>-<first label of the group>-<version>.json for the others.

Each file holds the kind's schema at its root and every definition it reaches
under "definitions" (so recursive types stay references). Strict means an
object with declared properties admits no other property, which catches a
misspelt or misplaced field in a template. What the OpenAPI document says in
prose is made explicit: IntOrString takes a string or an integer, Quantity a
string or a number, and optional fields may be null (the API server accepts
null for them).

Usage: k8s-json-schemas.py <swagger.json> <out dir>
"""
import json
import os
import sys

INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
REF_PREFIX = "#/definitions/"


def convert(node):
    """One OpenAPI schema node -> JSON schema node (recursively)."""
    if isinstance(node, list):
        return [convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("format") == "int-or-string":
        return {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
    out = {}
    for key, value in node.items():
        if key.startswith("x-") or key in ("format", "description"):
            continue
        out[key] = convert(value)
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            found.add(ref[len(REF_PREFIX):])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def closure(name, defs):
    seen, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n in seen or n not in defs:
            continue
        seen.add(n)
        found = set()
        refs(defs[n], found)
        todo.extend(found - seen)
    return seen


def file_name(group, version, kind):
    suffix = "-" + version.lower() if not group else "-%s-%s" % (group.split(".")[0].lower(), version.lower())
    return kind.lower() + suffix + ".json"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        swagger = json.load(f)
    raw = swagger["definitions"]
    defs = {name: convert(schema) for name, schema in raw.items()}
    defs[INT_OR_STRING] = {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
    defs[QUANTITY] = {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]}
    os.makedirs(sys.argv[2], exist_ok=True)
    written = 0
    for name, schema in raw.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            if kind.endswith("List") or kind in ("WatchEvent", "DeleteOptions", "Status", "APIGroup",
                                                  "APIGroupList", "APIResourceList", "APIVersions"):
                continue
            root = dict(defs[name])
            props = dict(root.get("properties", {}))
            api_version = version if not group else group + "/" + version
            props["apiVersion"] = {"type": "string", "enum": [api_version]}
            props["kind"] = {"type": "string", "enum": [kind]}
            root["properties"] = props
            root["required"] = sorted(set(root.get("required", [])) | {"apiVersion", "kind"})
            needed = closure(name, raw) - {name}
            root["definitions"] = {n: defs[n] for n in sorted(needed)}
            # A reference to the kind itself (recursive kinds) must resolve too.
            root["definitions"][name] = defs[name]
            path = os.path.join(sys.argv[2], file_name(group, version, kind))
            with open(path, "w", encoding="utf-8") as f:
                json.dump(root, f, separators=(",", ":"), sort_keys=True)
            written += 1
    if written < 50:
        sys.exit("k8s-json-schemas: only %d kinds found in %s" % (written, sys.argv[1]))
    print("k8s-json-schemas: %d kinds" % written, file=sys.stderr)


if __name__ == "__main__":
    main()
