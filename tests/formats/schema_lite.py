"""A small JSON-schema (2020-12 subset) validator for the schema `sing-box schema` prints.

The venv has no `jsonschema` package and the lead owns pyproject.toml, so this covers
exactly the keywords that schema uses: type, $ref, anyOf/oneOf/allOf, properties,
additionalProperties, unevaluatedProperties, required, propertyNames, items, enum,
const, minimum/maximum, pattern.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


class SchemaValidator:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def _resolve(self, ref: str) -> dict[str, Any]:
        assert ref.startswith("#/"), ref
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return node  # type: ignore[no-any-return]

    def errors(
        self, instance: Any, schema: dict[str, Any] | None = None, path: str = "$"
    ) -> list[str]:
        schema = self.root if schema is None else schema
        errs: list[str] = []
        if "$ref" in schema:
            errs += self.errors(instance, self._resolve(schema["$ref"]), path)
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_TYPES[t](instance) for t in types):
                return [f"{path}: expected {types}, got {instance!r}"]
        if "const" in schema and instance != schema["const"]:
            errs.append(f"{path}: expected const {schema['const']!r}, got {instance!r}")
        if "enum" in schema and instance not in schema["enum"]:
            errs.append(f"{path}: {instance!r} not in {schema['enum']}")
        if "minimum" in schema and instance < schema["minimum"]:
            errs.append(f"{path}: {instance} < {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            errs.append(f"{path}: {instance} > {schema['maximum']}")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            errs.append(f"{path}: {instance!r} does not match {schema['pattern']}")
        for sub in schema.get("allOf", ()):
            errs += self.errors(instance, sub, path)
        if "anyOf" in schema and not any(
            not self.errors(instance, s, path) for s in schema["anyOf"]
        ):
            errs.append(
                f"{path}: matches no anyOf branch: {self._best(instance, schema['anyOf'], path)}"
            )
        if "oneOf" in schema:
            ok = sum(1 for s in schema["oneOf"] if not self.errors(instance, s, path))
            if ok != 1:
                best = self._best(instance, schema["oneOf"], path)
                errs.append(f"{path}: matches {ok} oneOf branches: {best}")
        if isinstance(instance, dict):
            errs += self._object(instance, schema, path)
        if isinstance(instance, list) and "items" in schema:
            for i, item in enumerate(instance):
                errs += self.errors(item, schema["items"], f"{path}[{i}]")
        return errs

    def _best(self, instance: Any, branches: list[dict[str, Any]], path: str) -> str:
        """The branch error list that is shortest: usually the intended branch."""
        return min((self.errors(instance, b, path) for b in branches), key=len)[:3].__repr__()

    def _object(self, instance: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
        errs: list[str] = []
        props = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in instance:
                errs.append(f"{path}: missing required {key!r}")
        for key, value in instance.items():
            if key in props:
                errs += self.errors(value, props[key], f"{path}.{key}")
            elif "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    errs.append(f"{path}: unexpected property {key!r}")
                elif isinstance(extra, dict):
                    errs += self.errors(value, extra, f"{path}.{key}")
            if "propertyNames" in schema:
                errs += self.errors(key, schema["propertyNames"], f"{path}<{key}>")
        if schema.get("unevaluatedProperties") is False:
            seen = self._evaluated(instance, schema)
            errs += [f"{path}: unevaluated property {k!r}" for k in instance if k not in seen]
        return errs

    def _evaluated(self, instance: dict[str, Any], schema: dict[str, Any]) -> set[str]:
        seen = set(schema.get("properties", {}))
        if "additionalProperties" in schema:
            seen |= set(instance)
        if "$ref" in schema:
            seen |= self._evaluated(instance, self._resolve(schema["$ref"]))
        for sub in schema.get("allOf", ()):
            seen |= self._evaluated(instance, sub)
        for sub in [*schema.get("anyOf", ()), *schema.get("oneOf", ())]:
            if not self.errors(instance, sub):
                seen |= self._evaluated(instance, sub)
        return seen
