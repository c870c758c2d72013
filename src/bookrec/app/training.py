"""The app without a model: how to get one, and a button that trains one on the data bookrec can find."""

from __future__ import annotations

import importlib.util
import threading

import streamlit as st

from bookrec.data.download import goodbooks_ready
from bookrec.data.paths import goodbooks_dir, models_dir
from bookrec.errors import BookrecError

# One training at a time per process: two sessions pressing the button would otherwise both train.
_TRAINING = threading.Lock()

APP_MODEL_NAME = "default"
"""The folder under ``models_dir()`` that a model trained from the app is saved to."""


def no_model(error: BookrecError, *, named: bool) -> None:
    """The empty state: what is missing, the commands that fix it, and (with data) a button to train."""
    if named:
        st.error(f"The model could not be loaded: {error}", icon=":material/error:")
    else:
        st.info(
            "There is no trained model yet, so there is nothing to recommend from.",
            icon=":material/menu_book:",
        )
    st.markdown("Get one in a terminal, then reload this page:")
    st.code(
        "bookrec download   # goodbooks-10k: 6 million ratings of 10,000 books\n"
        "bookrec train      # the default model, trained on your CPU\n"
        "bookrec app",
        language="bash",
    )
    st.caption(
        "No internet? `bookrec synth --out data/synth` writes a goodbooks-shaped data set with SYNTHETIC "
        "ratings; `bookrec train --data data/synth` trains on it."
    )
    if not named:
        _offer_training()


def _offer_training() -> None:
    if importlib.util.find_spec("bookrec.train") is None:
        st.caption("This bookrec cannot train from the app; use `bookrec train`.")
        return
    ready = goodbooks_ready()
    if not ready:
        st.caption(f"No goodbooks-10k data at `{goodbooks_dir()}` to train on yet: run `bookrec download`.")
    pressed = st.button(
        "Train a model now",
        key="train_model",
        type="primary",
        disabled=not ready,
        help=f"Trains the default model on the data in {goodbooks_dir()} and serves it.",
    )
    if pressed:
        if not _TRAINING.acquire(blocking=False):
            st.warning("A model is already being trained in another session; reload this page in a while.")
            return
        try:
            _train()
        except BookrecError as error:
            st.error(f"Training failed: {error}", icon=":material/error:")
            return
        finally:
            _TRAINING.release()
        st.rerun()


def _train() -> None:
    """Train the default model on the downloaded data, save it and make it the last trained model."""
    from bookrec.data import load_dataset
    from bookrec.train import EpochStats, train_and_save

    with st.status("Training a model…", expanded=True) as status:
        st.write("Loading the ratings…")
        dataset = load_dataset()
        st.write(
            f"{dataset.n_ratings:,} ratings of {dataset.n_books:,} books by {dataset.n_users:,} readers."
        )
        bar = st.progress(0.0, text="Training…")

        def on_epoch(stats: EpochStats) -> None:
            rmse = "" if stats.valid_rmse is None else f": validation RMSE {stats.valid_rmse:.3f}"
            bar.progress(
                min(1.0, stats.epoch / stats.epochs), text=f"Epoch {stats.epoch} of {stats.epochs}{rmse}"
            )

        # No checkpoints: nothing in the app resumes a run (it takes seconds; a failed one is run again).
        folder = models_dir() / APP_MODEL_NAME
        train_and_save(dataset, None, folder, callbacks=[on_epoch], checkpoints=False)
        status.update(label=f"Trained and saved to {folder}", state="complete")
