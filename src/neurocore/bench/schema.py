"""The result document's JSON Schema (schema.json beside this file) and a
small validator for the part of JSON Schema it uses: type, const, enum,
minimum, required, properties, additionalProperties and items."""
import json
import os

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "schema.json")

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def load_schema():
    with open(SCHEMA_PATH) as f:
        return json.load(f)


def errors(doc, schema=None, path="$"):
    """Every violation of schema (default: schema.json) in doc, as
    "path: message" strings; empty when doc is valid."""
    schema = load_schema() if schema is None else schema
    found = []
    if "const" in schema and doc != schema["const"]:
        found.append(f"{path}: expected {schema['const']!r}, got {doc!r}")
    if "enum" in schema and doc not in schema["enum"]:
        found.append(f"{path}: {doc!r} is not one of {schema['enum']}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](doc) for t in types):
            found.append(f"{path}: expected {' or '.join(types)}, got {type(doc).__name__}")
            return found
    if "minimum" in schema and _TYPES["number"](doc) and doc < schema["minimum"]:
        found.append(f"{path}: {doc} is below the minimum {schema['minimum']}")
    if isinstance(doc, dict):
        for key in schema.get("required", ()):
            if key not in doc:
                found.append(f"{path}: missing required key {key!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, value in doc.items():
            if key in properties:
                found += errors(value, properties[key], f"{path}.{key}")
            elif extra is False:
                found.append(f"{path}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                found += errors(value, extra, f"{path}.{key}")
    if isinstance(doc, list) and "items" in schema:
        for i, item in enumerate(doc):
            found += errors(item, schema["items"], f"{path}[{i}]")
    return found


def validate(doc):
    """Raise ValueError listing every violation of schema.json in doc."""
    problems = errors(doc)
    if problems:
        raise ValueError("benchmark results do not match schema.json:\n  " + "\n  ".join(problems[:20]))
