"""The data sources, one module each; importing a module registers its SourceDef.

To add a source, write a module here that calls `register_source` and add its name below: the
order of this list is the order of the schema, the docs and the messages.
"""

from __future__ import annotations

import importlib

MODULES = ("inline", "csv", "npz", "idx", "builtin")

for _name in MODULES:
    importlib.import_module(f"{__name__}.{_name}")
