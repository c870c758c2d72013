"""The web app: a thin Streamlit layer over ``Recommender`` (``bookrec app`` starts it).

Importing this package does not import Streamlit or plotly; only ``main.py`` and the pages do, when Streamlit
runs them.

The model to serve is named by the environment variable ``BOOKREC_APP_MODEL`` (a model folder), which
``bookrec app MODEL`` sets. Unset, the app serves the last trained model (``bookrec train`` records it) and,
when there is none, says how to get one. The model is loaded once per process and shared by every session.
"""

from __future__ import annotations

from pathlib import Path

MODEL_ENV = "BOOKREC_APP_MODEL"
"""Environment variable naming the model folder the app serves."""

MAIN_SCRIPT = Path(__file__).with_name("main.py")
"""The Streamlit entry point, for ``streamlit run``."""

__all__ = ["MAIN_SCRIPT", "MODEL_ENV"]
