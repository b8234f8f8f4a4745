"""The compiled core: the modules of ``CORE_MODULES`` built as C extensions with Cython.

The project's metadata is in ``pyproject.toml``; this file only adds the extensions.
The same ``.py`` files are the source of both builds (Cython's pure-Python mode): the
wheel and an editable install carry the ``.py`` files beside the extensions, so
``MATCHBOOK_PURE_PYTHON=1`` can always run them interpreted.

* Compiled by default: ``pip install .``, ``pip install -e .`` and ``make setup`` build
  the extensions wherever a C compiler works (Cython comes from ``build-system.requires``).
* Without one (no compiler, or it fails), the build warns and installs the pure-Python
  package: nothing else changes.
* ``MATCHBOOK_BUILD=pure`` at build time builds no extension; ``MATCHBOOK_COMPILE=a,b``
  compiles only those modules of the list (names relative to ``matchbook.core``).
* Next to the extensions the build writes ``_compiled.json``: for every extension the
  SHA-256 of the ``.py`` it was compiled from. At import, ``matchbook/__init__.py`` loads
  an extension only when its source still has that hash; an edited ``.py`` beside an
  old extension runs interpreted, with a warning, until it is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

# Every module: its C types come from a ``.pxd`` beside it when there is one; the ``.py``
# annotations are for mypy only (Cython would otherwise turn ``x: dict`` into a check for
# an exact dict, which a mapping proxy fails).
DIRECTIVES = {"language_level": "3", "annotation_typing": False, "binding": True}

# The core modules compiled, as paths under src/, with their own compiler directives (one
# list: add a module here when the core gains one worth compiling; compiling the rest of
# the core unchanged made it no faster). ``__init__.py`` stays interpreted.
CORE_MODULES: dict[str, dict[str, object]] = {
    "matchbook/core/matching.py": {"boundscheck": False, "wraparound": False},
}

MANIFEST = "_compiled.json"
HERE = Path(__file__).resolve().parent
SRC = HERE / "src"


def _module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def source_digest(py_file: Path) -> str:
    """SHA-256 of a module's source: its ``.py`` file, and its ``.pxd`` when it has one
    (``matchbook._source_digest`` computes the same at import)."""
    digest = hashlib.sha256(py_file.read_bytes())
    pxd = py_file.with_suffix(".pxd")
    if pxd.is_file():
        digest.update(b"\0pxd\0" + pxd.read_bytes())
    return digest.hexdigest()


def _selected() -> list[str]:
    wanted = os.environ.get("MATCHBOOK_COMPILE", "").strip()
    if not wanted:
        return list(CORE_MODULES)
    names = {w.strip() for w in wanted.split(",") if w.strip()}
    chosen = [p for p in CORE_MODULES if _module_name(p).rpartition(".")[2] in names]
    unknown = names - {_module_name(p).rpartition(".")[2] for p in chosen}
    if unknown:
        raise SystemExit(f"MATCHBOOK_COMPILE names modules not in CORE_MODULES: {sorted(unknown)}")
    return chosen


def _warn(message: str) -> None:
    print(f"matchbook build: {message}", file=sys.stderr)


# module -> digest of the source its C code was generated from (filled by ext_modules)
DIGESTS: dict[str, str] = {}


def _read_manifest(path: Path) -> dict[str, dict[str, str]]:
    try:
        modules = json.loads(path.read_text(encoding="utf-8"))["modules"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return modules if isinstance(modules, dict) else {}


def _pure() -> bool:
    return os.environ.get("MATCHBOOK_BUILD", "").strip().lower() == "pure"


def ext_modules() -> list[object]:
    if _pure():
        _warn("MATCHBOOK_BUILD=pure: no extension built, the core runs interpreted")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not installed: no extension built, the core runs interpreted")
        return []
    # relative paths: the sources are found from the project's root, whatever the caller's
    # directory (pip builds from a copy of it)
    os.chdir(HERE)
    recorded = _read_manifest(SRC / "matchbook" / "core" / MANIFEST)
    extensions = []
    for path in _selected():
        name = _module_name(path)
        DIGESTS[name] = digest = source_digest(SRC / path)
        # C code is generated again whenever the source differs from the one the
        # extension in place was built from, or that extension is gone, whatever the
        # files' times say (an old .c file is never compiled again)
        entry = recorded.get(name, {})
        force = (entry.get("source_sha256") != digest
                 or not (SRC / "matchbook" / "core" / entry.get("extension", "-")).is_file())
        extensions.extend(cythonize(
            [f"src/{path}"], compiler_directives={**DIRECTIVES, **CORE_MODULES[path]},
            force=force, quiet=True))
    return extensions


class OptionalBuildExt(build_ext):
    """``build_ext`` that falls back to the interpreted modules when compiling fails,
    and records which source each extension was compiled from."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all: setuptools raises before building
            _warn(f"no extension built ({type(exc).__name__}: {exc}); "
                  "the core runs interpreted")
            self._failed = {e.name for e in self.extensions}
        self._write_manifests()

    def build_extension(self, ext: object) -> None:
        try:
            super().build_extension(ext)  # type: ignore[arg-type]
        except Exception as exc:
            name = ext.name  # type: ignore[attr-defined]
            _warn(f"{name} not compiled ({type(exc).__name__}: {exc}); it runs interpreted")
            self._failed = getattr(self, "_failed", set()) | {name}
            target = Path(self.get_ext_fullpath(name))
            target.unlink(missing_ok=True)  # never leave an old extension behind

    def _prune(self) -> None:
        """In place (editable installs, ``make setup``): remove the extensions of modules
        no longer in the list, so that none outlives its reason to exist."""
        if not self.inplace:
            return
        keep = set() if _pure() else {_module_name(p) for p in CORE_MODULES}
        for so in (SRC / "matchbook" / "core").glob("*.so"):
            name = "matchbook.core." + so.name.split(".")[0]
            if name not in keep:
                _warn(f"removing {so.name}: {name} is no longer compiled")
                so.unlink()
                so.with_name(so.name.split(".")[0] + ".c").unlink(missing_ok=True)

    def _write_manifests(self) -> None:
        self._prune()
        failed = getattr(self, "_failed", set())
        by_dir: dict[Path, dict[str, dict[str, str]]] = {}
        if self.inplace:
            by_dir[SRC / "matchbook" / "core"] = {}
        for ext in self.extensions:
            if ext.name in failed:
                continue
            target = Path(self.get_ext_fullpath(ext.name))
            by_dir.setdefault(target.parent, {})[ext.name] = {
                "extension": target.name, "source_sha256": DIGESTS[ext.name]}
        for directory, modules in by_dir.items():
            path = directory / MANIFEST
            # a partial rebuild (MATCHBOOK_COMPILE) keeps the entries of the others
            known = _read_manifest(path)
            known.update(modules)
            for name in failed:
                known.pop(name, None)
            if self.inplace:
                keep = set() if _pure() else {_module_name(p) for p in CORE_MODULES}
                known = {n: e for n, e in known.items() if n in keep}
            if not known:
                path.unlink(missing_ok=True)
                continue
            import Cython

            document = {"cython": Cython.__version__, "modules": dict(sorted(known.items()))}
            path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


setup(ext_modules=ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
