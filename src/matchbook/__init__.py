"""Matchbook: a price-time priority exchange.

The core (``matchbook.core``) comes in two builds from one source: its modules compiled
by Cython into C extensions (``setup.py``, the default wherever a C compiler exists) and
the same ``.py`` files run by the interpreter. Importing this package installs a finder
that decides, for every module of ``matchbook.core``, which of the two is imported:

* ``MATCHBOOK_PURE_PYTHON=1`` in the environment: always the ``.py`` file;
* otherwise the extension, when the build's manifest (``_compiled.json`` beside it) says
  it was compiled from the ``.py`` file as it is now (same SHA-256); an extension whose
  source was edited since, or that the manifest does not vouch for, is never run: the
  ``.py`` file is, with a ``StaleExtensionWarning`` until it is rebuilt (``make setup``).

``build_info()`` says which build is running; ``matchbook --version`` and the health
endpoint print its ``label``.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

__all__ = ["PURE_PYTHON_ENV", "StaleExtensionWarning", "build_info", "pure_python_forced"]

PURE_PYTHON_ENV = "MATCHBOOK_PURE_PYTHON"
_COMPILED_PACKAGE = "matchbook.core"
_MANIFEST = "_compiled.json"


class StaleExtensionWarning(RuntimeWarning):
    """A compiled module was not loaded because its ``.py`` source changed after it was
    built (or the build's manifest does not vouch for it): the source runs interpreted."""


def pure_python_forced() -> bool:
    """``MATCHBOOK_PURE_PYTHON`` is set to a true value (1, true, yes, on)."""
    return os.environ.get(PURE_PYTHON_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _read_manifest(directory: str) -> dict[str, Any]:
    try:
        with open(os.path.join(directory, _MANIFEST), encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _source_digest(py_file: str) -> str:
    """SHA-256 of a module's source: its ``.py`` file, and its ``.pxd`` (the C types
    Cython compiles it with) when it has one. ``setup.py`` records the same."""
    with open(py_file, "rb") as f:
        digest = hashlib.sha256(f.read())
    pxd = py_file[:-3] + ".pxd"
    if os.path.isfile(pxd):
        with open(pxd, "rb") as f:
            digest.update(b"\0pxd\0" + f.read())
    return digest.hexdigest()


class _CoreFinder(importlib.abc.MetaPathFinder):
    """Chooses between a core module's extension and its ``.py`` file (see the module's
    docstring). Records every choice in ``loaded``: module -> "compiled", "pure" or
    "stale" (an extension present but not used because its source changed)."""

    def __init__(self) -> None:
        self.loaded: dict[str, str] = {}
        self.built: set[str] = set()  # the modules the build's manifests list
        self.cython: set[str] = set()  # the Cython versions of those manifests
        self._manifests: dict[str, dict[str, Any]] = {}

    def _manifest(self, directory: str) -> dict[str, Any]:
        if directory not in self._manifests:
            manifest = self._manifests[directory] = _read_manifest(directory)
            modules = manifest.get("modules", {})
            if modules:
                self.built.update(modules)
                self.cython.add(str(manifest.get("cython", "?")))
        return self._manifests[directory]

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != _COMPILED_PACKAGE or not path:
            return None
        for directory in path:
            source = os.path.join(directory, name + ".py")
            extensions = [os.path.join(directory, name + suffix)
                          for suffix in importlib.machinery.EXTENSION_SUFFIXES
                          if os.path.isfile(os.path.join(directory, name + suffix))]
            has_source = os.path.isfile(source)
            if not has_source and not extensions:
                continue
            manifest = self._manifest(directory)
            if not has_source:
                # the module's source was removed: its old extension must not run
                raise ImportError(
                    f"{extensions[0]} has no source {name}.py beside it (a module removed "
                    "from the core); delete it or rebuild with `make setup`", name=fullname)
            if pure_python_forced() or not extensions:
                self.loaded[fullname] = "pure"
                return importlib.util.spec_from_file_location(fullname, source)
            entry = manifest.get("modules", {}).get(fullname, {})
            for extension in extensions:
                if (entry.get("extension") == os.path.basename(extension)
                        and entry.get("source_sha256") == _source_digest(source)):
                    self.loaded[fullname] = "compiled"
                    loader = importlib.machinery.ExtensionFileLoader(fullname, extension)
                    return importlib.util.spec_from_file_location(fullname, extension,
                                                                  loader=loader)
            self.loaded[fullname] = "stale"
            warnings.warn(
                f"{fullname}: the compiled module {os.path.basename(extensions[0])} was built "
                f"from another version of {name}.py; running {name}.py interpreted until it "
                "is rebuilt (`make setup`, or `pip install -e .`)",
                StaleExtensionWarning, stacklevel=2)
            return importlib.util.spec_from_file_location(fullname, source)
        return None


_finder = next((f for f in sys.meta_path if type(f).__name__ == "_CoreFinder"), None)
if _finder is None:
    _finder = _CoreFinder()
    sys.meta_path.insert(0, _finder)


def build_info() -> dict[str, Any]:
    """Which build of the core runs in this process (imports ``matchbook.core``).

    ``build`` is "compiled" (every module the build compiled is loaded compiled; the
    rest of the core is interpreted by design), "pure" (none is) or "partial";
    ``modules`` maps each compiled module to "compiled", "pure" or "stale" (its source
    changed since: interpreted); ``label`` is what ``matchbook --version`` and the health
    endpoint print, e.g. "compiled (Cython 3.3.1)" or "pure Python
    (MATCHBOOK_PURE_PYTHON=1)".
    """
    import importlib

    import matchbook.core

    finder: _CoreFinder = _finder  # type: ignore[assignment]
    finder._manifest(os.path.dirname(matchbook.core.__file__ or ""))
    for name in sorted(finder.built):  # a compiled module the core has not imported yet
        importlib.import_module(name)
    modules = {name: finder.loaded.get(name, "pure") for name in sorted(finder.built)}
    compiled = [n for n, s in modules.items() if s == "compiled"]
    stale = [n.rpartition(".")[2] for n, s in modules.items() if s == "stale"]
    cython = ", ".join(sorted(finder.cython))
    if compiled and len(compiled) == len(modules):
        build, label = "compiled", f"compiled (Cython {cython})"
    elif compiled:
        build = "partial"
        label = (f"partly compiled (Cython {cython}): {len(compiled)} of {len(modules)} "
                 "modules" + (f"; stale, interpreted: {', '.join(stale)}" if stale else ""))
    else:
        build = "pure"
        if pure_python_forced():
            label = f"pure Python ({PURE_PYTHON_ENV}=1)"
        elif stale:
            label = f"pure Python (stale extensions not loaded: {', '.join(stale)})"
        else:
            label = "pure Python"
    return {"build": build, "label": label, "cython": cython or None,
            "pure_python_forced": pure_python_forced(), "modules": modules}
