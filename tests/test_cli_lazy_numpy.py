"""atlas.cli defers numpy.f2py / numpy.testing / numpy.ctypeslib, which scipy's array-API layer imports (issue 11).

The modules still work when something uses them: they run on their first attribute access.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CODE = """
import sys
from atlas.cli import _defer_numpy_tools
_defer_numpy_tools()
_defer_numpy_tools()  # idempotent
import scipy.sparse, scipy.special
assert "numpy.f2py.f2py2e" not in sys.modules, "numpy.f2py ran"
assert "numpy.testing._private.utils" not in sys.modules, "numpy.testing ran"
import numpy
numpy.testing.assert_array_equal([1, 2], [1, 2])
assert callable(numpy.f2py.run_main) and hasattr(numpy.ctypeslib, "as_array")
from numpy.testing import assert_allclose
assert_allclose(1.0, 1.0)
print("ok")
"""


def test_numpy_tools_are_loaded_only_when_used():
    done = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
