"""JSON Schemas (draft 2020-12) of every ``--format json`` output, shipped with the package.

``derive.json``, ``explain.json``, ``formula.json``, ``check.json`` and ``verify.json`` describe
what the commands of those names print; ``layer.json`` is the normalized layer
spec they all hold, which they reference as ``layer.json#/$defs/...``. The
files are read with :mod:`importlib.resources`; :func:`schema` returns one
bundled (``layer.json`` embedded under ``$defs``, keeping its ``$id``), so
it validates on its own with no resolver:

>>> from symconv.schemas import schema
>>> derive = schema("derive")
>>> derive["$schema"], derive["$id"]
('https://json-schema.org/draft/2020-12/schema', 'https://symconv.invalid/schemas/derive.json')
>>> derive["$defs"]["layer.json"]["$id"]
'https://symconv.invalid/schemas/layer.json'

Loading one imports neither SymPy nor NumPy (nor jsonschema, which is not
a dependency: validate with any draft 2020-12 validator).
"""

from __future__ import annotations

import json
from importlib.resources import files

from symconv.errors import SymconvError

#: The outputs that have a schema, as ``symconv schema NAME`` takes them.
SCHEMAS = ("check", "derive", "explain", "formula", "verify")
#: The schema the others reference, for the layer spec.
LAYER = "layer"


def raw_schema(name: str) -> dict:
    """``<name>.json`` as it is shipped (its ``layer.json`` references unresolved)."""
    if name not in SCHEMAS + (LAYER,):
        raise SymconvError(f"schema: got {name!r}, expected one of {', '.join(SCHEMAS + (LAYER,))}")
    return json.loads(files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8"))


def schema(name: str) -> dict:
    """The schema of ``symconv <name> --format json``, self-contained: ``layer.json`` embedded as a resource."""
    document = raw_schema(name)
    if name != LAYER:
        document["$defs"] = {**document.get("$defs", {}), "layer.json": raw_schema(LAYER)}
    return document


def schema_text(name: str) -> str:
    """:func:`schema` as JSON text, what ``symconv schema NAME`` prints."""
    return json.dumps(schema(name), indent=1, ensure_ascii=False) + "\n"
