"""Find the user's function from a TARGET: ``path/to/file.py:function`` or ``package.module:Class.method``.

Loading a file runs the user's own code, as ``python file.py`` would; the
text of TARGET itself is only ever split at ``:`` and ``.`` and looked up,
never evaluated.

>>> load_target("json:dumps").__name__
'dumps'
>>> load_target("json:no_such")
Traceback (most recent call last):
...
symconv.errors.SymconvError: target: got 'json:no_such', expected a callable named no_such in json (it has no attribute no_such)
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys

from symconv.errors import SymconvError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPECTED = "path/to/file.py:function or package.module:function (attribute paths such as file.py:MyConv.apply allowed)"


def _module_from_file(path: str, target: str, option: str):
    if not os.path.isfile(path):
        raise SymconvError(f"{option}: got {target!r}, expected an existing Python file before the ':' "
                           f"(no file {path!r})")
    full = os.path.abspath(path)
    name = "symconv_target_" + hashlib.sha1(full.encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, full)
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(full)
    sys.path.insert(0, folder)  # the user's file may import its neighbours
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # the user's code (sys.exit too): say what it raised, in one line
        del sys.modules[name]
        raise SymconvError(f"{option}: got {target!r}, expected a file that imports, but running it raised "
                           f"{type(error).__name__}: {error}") from None
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    return module


def load_target(target: str, option: str = "target"):
    """The callable that ``target`` names; a one-line :class:`SymconvError` for anything else."""
    if not isinstance(target, str) or target.count(":") != 1:
        raise SymconvError(f"{option}: got {target!r}, expected {_EXPECTED}")
    where, attributes = target.split(":")
    path = attributes.split(".")
    if not where or not all(_NAME.fullmatch(part) for part in path):
        raise SymconvError(f"{option}: got {target!r}, expected {_EXPECTED}")
    if where.endswith(".py") or os.sep in where or "/" in where:
        module = _module_from_file(where, target, option)
    else:
        if not all(_NAME.fullmatch(part) for part in where.split(".")):
            raise SymconvError(f"{option}: got {target!r}, expected {_EXPECTED}")
        try:
            module = importlib.import_module(where)
        except ImportError as error:
            raise SymconvError(f"{option}: got {target!r}, expected an importable module before the ':' "
                               f"({error})") from None
        except (Exception, SystemExit) as error:
            raise SymconvError(f"{option}: got {target!r}, expected a module that imports, but importing it "
                               f"raised {type(error).__name__}: {error}") from None
    value = module
    for part in path:
        if not hasattr(value, part):
            raise SymconvError(f"{option}: got {target!r}, expected a callable named {'.'.join(path)} in "
                               f"{where} (it has no attribute {part})")
        value = getattr(value, part)
    if not callable(value):
        raise SymconvError(f"{option}: got {target!r}, expected a callable, not a {type(value).__name__}")
    return value
