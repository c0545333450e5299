"""A small kustomize, enough for deploy/: machines without `kubectl`/`kustomize` still
build (and so check) what `kubectl apply -k` would send.

Supported, and refused loudly otherwise: `resources` (files and directories holding a
kustomization), `namespace`, `images` (newName/newTag), `configMapGenerator` and
`secretGenerator` with `literals` and `disableNameSuffixHash: true`, and `patches` made of
JSON 6902 operations (`add`, `replace`, `remove`) selected by kind and name. Where a binary
is installed the tests compare this build with it, so the two cannot drift apart silently.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]

KUSTOMIZATION_FILE = "kustomization.yaml"
KNOWN_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "images",
    "configMapGenerator",
    "secretGenerator",
    "patches",
}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
}


class KustomizeError(ValueError):
    pass


def load_documents(path: Path) -> list[Object]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for doc in docs:
        if not isinstance(doc, dict):
            raise KustomizeError(f"{path}: a document is not a mapping")
    return docs


def build(directory: Path) -> list[Object]:
    """The objects `kustomize build DIRECTORY` would print (order aside)."""
    kustomization_path = directory / KUSTOMIZATION_FILE
    if not kustomization_path.is_file():
        raise KustomizeError(f"{directory}: no {KUSTOMIZATION_FILE}")
    (spec,) = load_documents(kustomization_path)
    unknown = set(spec) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{kustomization_path}: unsupported fields {sorted(unknown)}")
    objects: list[Object] = []
    for resource in spec.get("resources", []):
        target = (directory / resource).resolve()
        if target.is_dir():
            objects.extend(build(target))
        elif target.is_file():
            objects.extend(load_documents(target))
        else:
            raise KustomizeError(f"{kustomization_path}: resource {resource!r} does not exist")
    objects.extend(_generated(spec, "configMapGenerator", kustomization_path))
    objects.extend(_generated(spec, "secretGenerator", kustomization_path))
    for patch in spec.get("patches", []):
        _apply_patch(objects, patch, kustomization_path)
    namespace = spec.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = namespace
    for image in spec.get("images", []):
        _set_image(objects, image)
    _check_unique(objects, kustomization_path)
    return objects


def key(obj: Object) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return obj["kind"], meta.get("namespace", ""), meta["name"]


def _generated(spec: Object, field: str, where: Path) -> list[Object]:
    out = []
    for gen in spec.get(field, []):
        options = gen.get("options", {})
        if not options.get("disableNameSuffixHash"):
            raise KustomizeError(f"{where}: {field} {gen['name']}: name hashes not supported")
        if set(gen) - {"name", "namespace", "literals", "options", "type"}:
            raise KustomizeError(f"{where}: {field} {gen['name']}: unsupported fields")
        data: dict[str, str] = {}
        for literal in gen.get("literals", []):
            name, sep, value = str(literal).partition("=")
            if not sep:
                raise KustomizeError(f"{where}: literal {literal!r} has no '='")
            data[name] = value
        meta: Object = {"name": gen["name"]}
        if "namespace" in gen:
            meta["namespace"] = gen["namespace"]
        if options.get("labels"):
            meta["labels"] = dict(options["labels"])
        if options.get("annotations"):
            meta["annotations"] = dict(options["annotations"])
        if field == "secretGenerator":
            encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": meta,
                    "type": gen.get("type", "Opaque"),
                    "data": encoded,
                }
            )
        else:
            out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    return out


def _apply_patch(objects: list[Object], patch: Object, where: Path) -> None:
    target = patch.get("target", {})
    if set(target) - {"kind", "name"} or "patch" not in patch:
        raise KustomizeError(f"{where}: only JSON 6902 patches selected by kind and name")
    matched = [
        o
        for o in objects
        if o["kind"] == target.get("kind", o["kind"])
        and o["metadata"]["name"] == target.get("name", o["metadata"]["name"])
    ]
    if not matched:
        raise KustomizeError(f"{where}: patch target {target} matches nothing")
    operations = yaml.safe_load(patch["patch"])
    if not isinstance(operations, list):
        raise KustomizeError(f"{where}: only JSON 6902 (a list of operations) is supported")
    for obj in matched:
        for op in operations:
            _json_patch(obj, op, where)


def _json_patch(obj: Object, op: Object, where: Path) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    parent: Any = obj
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    kind = op["op"]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(index, copy.deepcopy(op["value"]))
        elif kind == "replace":
            parent[index] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del parent[index]
        else:
            raise KustomizeError(f"{where}: unsupported op {kind}")
        return
    if kind in ("replace", "remove") and last not in parent:
        raise KustomizeError(f"{where}: {kind} of missing path {op['path']}")
    if kind in ("add", "replace"):
        parent[last] = copy.deepcopy(op["value"])
    elif kind == "remove":
        del parent[last]
    else:
        raise KustomizeError(f"{where}: unsupported op {kind}")


def containers(obj: Object) -> list[Object]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _set_image(objects: list[Object], image: Object) -> None:
    name = image["name"]
    for obj in objects:
        for container in containers(obj):
            current = container.get("image", "")
            base = current.split("@", 1)[0].rsplit(":", 1)[0] if ":" in current else current
            if base != name:
                continue
            new = image.get("newName", name)
            tag = image.get("newTag")
            if tag is None and ":" in current:
                tag = current.rsplit(":", 1)[1]
            container["image"] = f"{new}:{tag}" if tag else new


def _check_unique(objects: list[Object], where: Path) -> None:
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        k = key(obj)
        if k in seen:
            raise KustomizeError(f"{where}: duplicate object {k}")
        seen.add(k)
