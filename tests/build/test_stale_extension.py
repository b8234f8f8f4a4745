"""Which build of the core a process imports, and that an extension never runs once its
source has changed.

Each test works on a copy of the package (``src/matchbook`` with this tree's compiled
core) imported by a fresh interpreter, so the tree itself is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import matchbook

SRC = Path(matchbook.__file__).resolve().parent
CORE = SRC / "core"
MANIFEST = CORE / "_compiled.json"
PROBE = """
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import matchbook
    info = matchbook.build_info()
import matchbook.core.{module} as m
print(json.dumps({{"info": info, "file": m.__file__, "marker": hasattr(m, "_edited_marker"),
                  "warnings": [str(w.category.__name__) + ": " + str(w.message)
                               for w in caught]}}))
"""


def _compiled_modules() -> list[str]:
    if not MANIFEST.is_file():
        return []
    return sorted(json.loads(MANIFEST.read_text())["modules"])


COMPILED = _compiled_modules()
needs_compiled = pytest.mark.skipif(
    not COMPILED, reason="no compiled core in this tree (no C compiler at build time?)")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """``tmp_path/matchbook``: a copy of the package, its extensions included."""
    shutil.copytree(SRC, tmp_path / "matchbook",
                    ignore=shutil.ignore_patterns("__pycache__", "*.c"))
    return tmp_path / "matchbook"


def _probe(copy: Path, module: str, pure: str = "") -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(copy.parent), "MATCHBOOK_PURE_PYTHON": pure}
    done = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=copy.parent)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    assert str(result["file"]).startswith(str(copy)), "the copy was not the one imported"
    return result


@needs_compiled
def test_an_unchanged_source_imports_its_extension(copy: Path) -> None:
    module = COMPILED[0].rpartition(".")[2]
    result = _probe(copy, module)
    assert result["info"]["build"] == "compiled"  # type: ignore[index]
    assert str(result["info"]["label"]).startswith("compiled (Cython ")  # type: ignore[index]
    assert not str(result["file"]).endswith(".py")
    assert result["warnings"] == []


@needs_compiled
def test_an_edited_source_runs_interpreted_with_a_warning(copy: Path) -> None:
    module = COMPILED[0].rpartition(".")[2]
    source = copy / "core" / f"{module}.py"
    source.write_text(source.read_text() + "\n\ndef _edited_marker() -> None:\n    pass\n")
    result = _probe(copy, module)
    assert str(result["file"]).endswith(f"{module}.py")
    assert result["marker"], "the edited source did not run"
    assert result["info"]["build"] == "pure"  # type: ignore[index]
    assert result["info"]["modules"][COMPILED[0]] == "stale"  # type: ignore[index]
    assert any(w.startswith("StaleExtensionWarning") and module in w
               for w in result["warnings"])  # type: ignore[union-attr]


@needs_compiled
def test_an_edited_pxd_makes_the_extension_stale_too(copy: Path) -> None:
    module = COMPILED[0].rpartition(".")[2]
    pxd = copy / "core" / f"{module}.pxd"
    pxd.write_text((pxd.read_text() if pxd.exists() else "") + "\n# edited\n")
    result = _probe(copy, module)
    assert str(result["file"]).endswith(f"{module}.py")
    assert result["info"]["modules"][COMPILED[0]] == "stale"  # type: ignore[index]


@needs_compiled
def test_an_extension_the_manifest_does_not_vouch_for_is_not_run(copy: Path) -> None:
    module = COMPILED[0].rpartition(".")[2]
    (copy / "core" / "_compiled.json").unlink()
    result = _probe(copy, module)
    assert str(result["file"]).endswith(f"{module}.py")
    assert any(w.startswith("StaleExtensionWarning") for w in result["warnings"])  # type: ignore[union-attr]


@needs_compiled
def test_an_extension_whose_source_was_removed_refuses_to_import(copy: Path) -> None:
    module = COMPILED[0].rpartition(".")[2]
    extension = next((copy / "core").glob(f"{module}.*.so"))
    shutil.copy(extension, copy / "core" / extension.name.replace(module, "gone", 1))
    env = {**os.environ, "PYTHONPATH": str(copy.parent)}
    done = subprocess.run([sys.executable, "-c", "import matchbook.core.gone"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=copy.parent)
    assert done.returncode != 0 and "has no source gone.py" in done.stderr


@needs_compiled
def test_matchbook_pure_python_forces_the_interpreted_modules(copy: Path) -> None:
    module = COMPILED[0].rpartition(".")[2]
    result = _probe(copy, module, pure="1")
    assert str(result["file"]).endswith(f"{module}.py")
    assert result["info"]["label"] == "pure Python (MATCHBOOK_PURE_PYTHON=1)"  # type: ignore[index]
    assert result["warnings"] == []


def test_without_any_extension_the_core_is_pure_python(copy: Path) -> None:
    for extension in (copy / "core").glob("*.so"):
        extension.unlink()
    (copy / "core" / "_compiled.json").unlink(missing_ok=True)
    result = _probe(copy, "engine")
    assert result["info"]["build"] == "pure"  # type: ignore[index]
    assert result["info"]["label"] == "pure Python"  # type: ignore[index]
    assert result["warnings"] == []


@needs_compiled
def test_the_manifest_hash_is_the_one_the_finder_computes() -> None:
    manifest = json.loads(MANIFEST.read_text())["modules"]
    for name, entry in manifest.items():
        source = CORE / (name.rpartition(".")[2] + ".py")
        assert entry["source_sha256"] == matchbook._source_digest(str(source))
