"""The package: cheap, side-effect-free import; public names; the version."""

from __future__ import annotations

import subprocess
import sys


def test_import_loads_no_heavy_or_global_state() -> None:
    code = (
        "import sys, bookrec; "
        "heavy = ('torch', 'numba', 'pooch', 'streamlit', 'plotly', 'matplotlib'); "
        "heavy = [m for m in heavy if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_resolve() -> None:
    import bookrec

    for name in bookrec.__all__:
        assert getattr(bookrec, name) is not None
    assert bookrec.TrainConfig.__module__ == "bookrec.config"
    assert bookrec.Recommender.__name__ == "Recommender"
