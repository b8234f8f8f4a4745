"""The P2P tests take the desk's constants (states, the second) from ``core/p2p.py``:
a copy in a test would go on passing after the core changed them."""

from __future__ import annotations

import ast
from pathlib import Path

from matchbook.core import p2p

HERE = Path(__file__).parent
P2P_TESTS = [*sorted(HERE.glob("test_p2p*.py")), HERE / "p2p_helpers.py"]
CORE_CONSTANTS = {name for name, value in vars(p2p).items()
                  if name.isupper() and isinstance(value, int | frozenset)}


def _assigned_at_module_level(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name):
                    names.add(leaf.id)
    return names


def test_the_core_has_the_constants_looked_for() -> None:
    assert {"S", "PENDING", "PAID", "DISPUTED", "COMPLETED", "RESOLVED_RELEASE"} <= CORE_CONSTANTS


def test_no_p2p_test_redefines_a_constant_of_the_core() -> None:
    redefined = {path.name: sorted(_assigned_at_module_level(path) & CORE_CONSTANTS)
                 for path in P2P_TESTS}
    assert not {name: found for name, found in redefined.items() if found}, redefined
