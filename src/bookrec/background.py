"""A fit that runs on a thread of its own beside the main work: the ranking model beside the rating model.

Much of a training run leaves a core idle (splitting, the regularization probe's set-up, sorting ratings into
blocks, saving), while the ranking model's ALS sweeps run in compiled code that releases the GIL. Started
first and joined last, the ranking fit fills those gaps: on full-size goodbooks-shaped data on two cores
the whole default train is several seconds shorter, with results identical to fitting one after the other
(each fit is deterministic whatever the threads do).

Progress is read here and reported on the caller's thread, so callbacks never run on two threads; a stop
(Ctrl-C, an error) cancels the fit at its next step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BackgroundFit", "FitCancelled"]

OnStep = Callable[[int, int], None]


class FitCancelled(Exception):
    """Raised inside the fit's step callback when the caller no longer wants its result."""


class BackgroundFit:
    """``fit(on_step)`` running on a daemon thread; ``on_step(done, total)`` is its progress hook."""

    def __init__(self, fit: Callable[[OnStep], Any], name: str = "bookrec-fit") -> None:
        self._fit = fit
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._steps = (0, 0)
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _on_step(self, done: int, total: int) -> None:
        with self._lock:
            self._steps = (done, total)
        if self._cancel.is_set():
            raise FitCancelled

    def _run(self) -> None:
        try:
            self._result = self._fit(self._on_step)
        except BaseException as error:  # handed to the caller's thread by result()
            self._error = error

    @property
    def steps(self) -> tuple[int, int]:
        """(steps done, steps in all) as last reported; (0, 0) before the first."""
        with self._lock:
            return self._steps

    def result(self, on_progress: OnStep | None = None, poll_seconds: float = 0.2) -> Any:
        """Wait for the fit and return what it returned (or raise what it raised), calling ``on_progress``
        on this thread whenever its progress moves."""
        last = None
        while True:
            self._thread.join(poll_seconds)
            steps = self.steps
            if on_progress is not None and steps != last and steps[1]:
                on_progress(*steps)
                last = steps
            if not self._thread.is_alive():
                break
        if self._error is not None:
            raise self._error
        return self._result

    def cancel(self, wait_seconds: float = 5.0) -> None:
        """Ask the fit to stop at its next step, and wait for it a while (its result is dropped)."""
        self._cancel.set()
        self._thread.join(wait_seconds)
