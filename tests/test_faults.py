"""Never a traceback, never a lost model: bad arguments, unwritable places, kills and full disks.

Each test names a fault a user met (issue 11) and checks the one line it now gets, or the state kept.
Faults are real where they can be (a path under a file, a real SIGKILL, a bound port); a full disk is
injected at the one call that writes.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bookrec import modelfile
from bookrec.cli import app, app_cmd
from bookrec.data import Dataset, load_dataset
from bookrec.errors import DownloadError, ModelFileError
from bookrec.recommender import Recommender
from conftest import planted_ratings, planted_recommender, sample_book_ids, sample_books, write_ratings
from test_download import GOOD_ZIP, Site, _download, _sha, _tree, site  # noqa: F401 (site: a fixture)

runner = CliRunner()


def _one_line_error(result, code: int = 2) -> str:
    """The error line of a failed command, checking it is alone (a usage hint may follow) and clean."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "╭" not in result.output
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def ratings_csv(tmp_path: Path, rng: np.random.Generator) -> Path:
    users, books, stars = planted_ratings(rng, 40, sample_book_ids(), 12)
    rows = [(int(u), int(b), int(s)) for u, b, s in zip(users, books, stars, strict=True)]
    return write_ratings(tmp_path / "ratings.csv", rows)


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A plain file: any path under it cannot be created, even by root (unlike a chmod'ed folder)."""
    path = tmp_path / "a-file"
    path.write_text("not a folder\n")
    return path


# --- usage errors: one line naming the flag, what it must be and what was typed --------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["similar", "m", "t", "-k", "abc"], "error: -k must be a whole number, got 'abc'"),
        (["train", "--epochs", "1.5"], "error: --epochs must be a whole number, got '1.5'"),
        (["evaluate", "--like-threshold", "x"], "error: --like-threshold must be a number, got 'x'"),
        (["app", "--port", "0"], "error: --port must be at least 1, got '0'"),
        (["train", "--bogus"], "error: no such option --bogus"),
        (["train", "--model"], "error: --model needs a value"),
        (["split", "--holdout", "0.2"], "error: missing option --ratings"),
        (["nosuch"], "error: no such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line_with_a_hint(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    line = _one_line_error(result)
    assert line.startswith(expected)
    assert result.stderr.splitlines()[1].startswith("see 'bookrec")


def test_a_bug_is_one_line_with_exit_1_and_the_traceback_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object) -> Dataset:
        raise ValueError("boom")

    monkeypatch.setattr("bookrec.cli._options.DataOptions.load", broken)
    result = runner.invoke(app, ["info"])
    assert _one_line_error(result, code=1).startswith("error: internal error (ValueError: boom)")
    assert "BOOKREC_DEBUG=1" in result.stderr
    shown = runner.invoke(app, ["info"], env={"BOOKREC_DEBUG": "1"})
    assert isinstance(shown.exception, ValueError)


# --- unwritable places: one line, before any work ----------------------------------------------------------


def test_train_with_an_unwritable_home_fails_at_once(
    ratings_csv: Path, a_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOKREC_HOME", str(a_file / "home"))
    result = runner.invoke(app, ["train", "--ratings", str(ratings_csv)])
    line = _one_line_error(result)
    assert "is a file, not a folder" in line and "--out" in line
    assert "training" not in result.stdout  # refused before loading or training


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the file case covers it")
def test_train_with_a_read_only_home_fails_at_once(
    ratings_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "ro-home"
    home.mkdir()
    home.chmod(0o555)
    monkeypatch.setenv("BOOKREC_HOME", str(home))
    try:
        line = _one_line_error(runner.invoke(app, ["train", "--ratings", str(ratings_csv)]))
    finally:
        home.chmod(0o755)
    assert "not writable" in line


def test_train_out_under_a_file_fails_before_training(ratings_csv: Path, a_file: Path) -> None:
    result = runner.invoke(app, ["train", "--ratings", str(ratings_csv), "--out", str(a_file / "model")])
    assert "is a file, not a folder" in _one_line_error(result)
    assert "training" not in result.stdout


def test_synth_out_under_a_file_is_one_line(a_file: Path) -> None:
    args = ["synth", "--out", str(a_file / "x"), "--users", "10", "--books", "5", "--ratings", "30"]
    result = runner.invoke(app, args)
    assert str(a_file) in _one_line_error(result)


def test_a_model_saved_where_it_cannot_be_remembered_warns(
    ratings_csv: Path, tmp_path: Path, a_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOKREC_HOME", str(a_file / "home"))
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "--ratings", str(ratings_csv), "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"warning: saved the model to {out}, but could not record it")
    assert result.stderr.count("\n") == 1
    Recommender.load(out)


@pytest.mark.parametrize(
    "rows",
    [[(1, 1, 5), (1, 2, 4), (2, 1, 3)], [(1, b, 1 + b % 5) for b in range(1, 30)]],
    ids=["3-rows", "one-reader"],
)
def test_too_little_data_is_refused_with_the_minimums(tmp_path: Path, rows: list) -> None:
    path = write_ratings(tmp_path / "tiny.csv", rows)
    result = runner.invoke(app, ["train", "--ratings", str(path), "--out", str(tmp_path / "m")])
    line = _one_line_error(result)
    assert "too little to train on" in line and "at least 10 ratings, 2 readers and 2 books" in line
    assert not (tmp_path / "m").exists()


# --- one training per model folder: a lock beside it --------------------------------------------------------


def test_a_second_train_on_the_same_out_is_refused(ratings_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        modelfile.lock_path(out).write_text(f"{holder.pid}\n")  # a live process trains into it
        result = runner.invoke(app, ["train", "--ratings", str(ratings_csv), "--out", str(out)])
        line = _one_line_error(result)
        assert f"is being written by process {holder.pid}" in line
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: its lock is stale and taken over; the finished run removes it.
    result = runner.invoke(app, ["train", "--ratings", str(ratings_csv), "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not modelfile.lock_path(out).exists()
    Recommender.load(out)


# --- kills and full disks leave the last good state ---------------------------------------------------------


@pytest.fixture
def good_model(tmp_path: Path) -> tuple[Path, Recommender]:
    recommender = planted_recommender(sample_books(40), n_users=20)
    return recommender.save(tmp_path / "model"), recommender


_KILL_AT_RENAME = """
import os, signal, sys
from bookrec import _files
from bookrec.recommender import Recommender
folder, nth = sys.argv[1], int(sys.argv[2])
model = Recommender.load(folder)
real, calls = os.replace, []
def replace(*args):
    calls.append(args)
    if len(calls) == nth:
        os.kill(os.getpid(), signal.SIGKILL)  # a real kill, at the chosen rename
    return real(*args)
_files.os.replace = replace
model.save(folder)
"""


@pytest.mark.parametrize("nth", [1, 2], ids=["before-moving-the-old-aside", "between-the-two-renames"])
def test_a_kill_during_the_swap_leaves_the_last_good_model(good_model, nth: int) -> None:
    folder, recommender = good_model
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    killed = subprocess.run([sys.executable, "-c", _KILL_AT_RENAME, str(folder), str(nth)], check=False)
    assert killed.returncode == -signal.SIGKILL
    assert any(p.name.startswith(".model.") for p in folder.parent.iterdir())  # what the kill left
    with modelfile.model_lock(folder):  # what the next `train` does first
        pass
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []
    assert [b.book_id for b in Recommender.load(folder).similar(1, k=3)] == [
        b.book_id for b in recommender.similar(1, k=3)
    ]


def test_a_full_disk_during_save_keeps_the_old_model(good_model, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, recommender = good_model
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(modelfile, "_write_table", no_space)  # the metadata tables, after the weights
    with pytest.raises(ModelFileError, match="No space left on device"):
        recommender.save(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []


def test_a_full_disk_during_train_is_one_line(
    ratings_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(modelfile, "save_file", no_space)
    result = runner.invoke(
        app, ["train", "--ratings", str(ratings_csv), "--epochs", "1", "--out", str(tmp_path / "m")]
    )
    assert "No space left on device" in _one_line_error(result)
    assert not modelfile.lock_path(tmp_path / "m").exists()


# --- the app: a busy port, and stopping it ------------------------------------------------------------------


def test_app_on_a_busy_port_is_one_line_and_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("Streamlit was started")

    monkeypatch.setattr(app_cmd.subprocess, "Popen", never)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["app", "--port", str(port)])
    line = _one_line_error(result)
    assert (
        line == f"error: cannot serve on 127.0.0.1:{port}: in use (another app?); choose another with --port"
    )
    assert result.stdout == ""


_APP_WITH_A_STAND_IN = """
import sys
from bookrec.cli import app_cmd, main
child = (
    "import signal, sys, time\\n"
    "def stop(*_):\\n"
    "    open(sys.argv[1], 'w').write('stopped'); sys.exit(0)\\n"
    "signal.signal(signal.SIGTERM, stop)\\n"
    "open(sys.argv[1] + '.up', 'w').write('up')\\n"
    "time.sleep(60)\\n"
)
marker, port = sys.argv[1], sys.argv[2]
app_cmd.streamlit_command = lambda _port, _host: [sys.executable, "-c", child, marker]
sys.argv = ["bookrec", "app", "--port", port]
main()
"""


def test_sigterm_to_the_app_stops_streamlit_too(tmp_path: Path) -> None:
    pytest.importorskip("streamlit")  # the launcher checks the app extra is there before starting
    pytest.importorskip("plotly")
    marker = tmp_path / "child"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launcher = subprocess.Popen([sys.executable, "-c", _APP_WITH_A_STAND_IN, str(marker), str(port)])
    try:
        deadline = time.monotonic() + 30
        while not Path(f"{marker}.up").exists():
            assert time.monotonic() < deadline and launcher.poll() is None, "the stand-in never started"
            time.sleep(0.05)
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(20) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert marker.read_text() == "stopped"  # the child got the SIGTERM and ended before the launcher


# --- silently wrong answers, now refused or right -----------------------------------------------------------


def test_an_edited_rating_scale_is_refused(good_model) -> None:
    folder, _ = good_model
    manifest = json.loads((folder / modelfile.MANIFEST).read_text())
    manifest["rating_scale"] = [1, 10]
    (folder / modelfile.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="edited after saving"):
        Recommender.load(folder)
    result = runner.invoke(app, ["similar", str(folder), "1", "-k", "2"])
    assert "edited after saving" in _one_line_error(result)


def test_other_manifest_notes_may_be_edited(good_model) -> None:
    folder, _ = good_model
    manifest = json.loads((folder / modelfile.MANIFEST).read_text())
    manifest["note"] = "my best model"
    (folder / modelfile.MANIFEST).write_text(json.dumps(manifest))
    Recommender.load(folder)


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing/m.png", "missing does not exist"), ("map.txt", "end the name with .png, .svg or .pdf")],
)
def test_explore_map_out_must_be_a_picture_in_an_existing_folder(
    good_model, tmp_path: Path, name: str, message: str
) -> None:
    pytest.importorskip("matplotlib")
    folder, _ = good_model
    out = tmp_path / name
    result = runner.invoke(app, ["explore", str(folder), "map", "--out", str(out), "--books", "30"])
    assert message in _one_line_error(result)
    assert not out.exists() and not (tmp_path / "missing").exists()


def test_explore_map_writes_svg_by_its_suffix(good_model, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    folder, _ = good_model
    out = tmp_path / "map.svg"
    result = runner.invoke(app, ["explore", str(folder), "map", "--out", str(out), "--books", "30"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().lstrip().startswith(b"<?xml")


def test_evaluate_top_n_with_k_above_the_books(tmp_path: Path, rng: np.random.Generator) -> None:
    users, books, stars = planted_ratings(rng, 40, sample_book_ids()[:30], 12)  # a 30-book model
    rows = [(int(u), int(b), int(s)) for u, b, s in zip(users, books, stars, strict=True)]
    ratings = write_ratings(tmp_path / "ratings.csv", rows)
    split = runner.invoke(app, ["split", "--ratings", str(ratings), "--out", str(tmp_path / "split")])
    assert split.exit_code == 0, split.output
    out = tmp_path / "model"
    train = ["train", "--ratings", str(tmp_path / "split" / "train.csv"), "--valid-pct", "0", "--epochs", "1"]
    trained = runner.invoke(app, [*train, "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    held = tmp_path / "split" / "heldout.csv"
    result = runner.invoke(
        app, ["evaluate", str(out), "--ratings", str(held), "--top-n", "-k", "50", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["top_n"]["k"] == 50


# --- the same data in a folder or a zip is one data set -----------------------------------------------------


def test_a_zipped_synth_folder_is_synthetic_and_the_same_data(tmp_path: Path) -> None:
    folder = tmp_path / "synth"
    made = runner.invoke(
        app, ["synth", "--out", str(folder), "--users", "60", "--books", "30", "--ratings", "900"]
    )
    assert made.exit_code == 0, made.output
    archive = tmp_path / "synth.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        for path in sorted(folder.iterdir()):
            writer.write(path, f"synth/{path.name}")
    zipped, unpacked = load_dataset(archive), load_dataset(folder)
    assert zipped.synthetic and unpacked.synthetic
    assert zipped.source_hash == unpacked.source_hash
    # A model trained on the zip is evaluated on its own validation split when given the folder.
    out = tmp_path / "model"
    trained = runner.invoke(
        app, ["train", "--data", str(archive), "--epochs", "1", "--out", str(out), "--json"]
    )
    assert trained.exit_code == 0, trained.output
    assert json.loads((out / modelfile.MANIFEST).read_text())["data"]["synthetic"] is True
    result = runner.invoke(app, ["evaluate", str(out), "--data", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["on"] == "validation split"


def test_string_ids_past_numpys_summary_length_hash_apart() -> None:
    ids = np.array([f"isbn-{i:05d}" for i in range(3000)], dtype=object)
    other = ids.copy()
    other[1500] = "isbn-changed"  # numpy's repr shows only the first and last three of 3,000
    ratings = np.ones(3000)
    first = Dataset.from_ratings(ids, ids, ratings)
    second = Dataset.from_ratings(other, other, ratings)
    assert first.source_hash != second.source_hash
    assert Dataset.from_ratings(ids, ids, ratings).source_hash == first.source_hash


# --- kills mid-write and stop signals to training -----------------------------------------------------------


def _wait_for(condition, process: subprocess.Popen, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the subprocess ended before {what}: {process.stderr.read()}"
        assert time.monotonic() < deadline, f"no {what} after {seconds} s"
        time.sleep(0.02)


_STALL_CACHE_WRITE = """
import sys, time
from bookrec.data import _cache, load_dataset
from bookrec.data.sources import DataSource
real = _cache.np.save
def save_then_stall(*args, **kwargs):
    real(*args, **kwargs)
    time.sleep(120)  # killed here, with one array in the staging folder
_cache.np.save = save_then_stall
load_dataset(DataSource(ratings=sys.argv[1]))
"""


def test_a_kill_during_the_cache_write_is_cleaned_up_by_the_next_load(
    ratings_csv: Path, bookrec_home: Path
) -> None:
    from bookrec.data._cache import _read_cache
    from bookrec.data.sources import DataSource

    cache = bookrec_home / "cache"
    writer = subprocess.Popen(
        [sys.executable, "-c", _STALL_CACHE_WRITE, str(ratings_csv)], stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(lambda: any(cache.glob(".*/*.npy")), writer, "staging folder")
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(20) == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        writer.stderr.close()
    [left] = [p for p in cache.iterdir() if p.name.startswith(".")]  # what the kill left
    assert left.name.split(".")[2] == str(writer.pid)
    live = cache / f".{'0' * 32}.{os.getpid()}.stillwriting"  # a live writer's: never touched
    live.mkdir()

    dataset = load_dataset(DataSource(ratings=ratings_csv))

    assert sorted(p.name for p in cache.iterdir() if p.name.startswith(".")) == [live.name]
    [folder] = [p for p in cache.iterdir() if not p.name.startswith(".")]
    cached = _read_cache(folder)
    assert cached is not None and cached.n_ratings == dataset.n_ratings == 480
    assert np.array_equal(cached.rating, dataset.rating)


_TRAIN = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # even where the test runner ignores Ctrl-C
from bookrec.cli import main
sys.argv = ["bookrec", "train", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(
    ("signum", "status", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")],
)
def test_a_stop_signal_to_train_keeps_the_old_model_and_a_resumable_checkpoint(
    good_model, ratings_csv: Path, signum: int, status: int, said: str
) -> None:
    from bookrec.cli._options import DataOptions
    from bookrec.config import TrainConfig
    from bookrec.errors import TrainingInterrupted
    from bookrec.train import train

    folder, _ = good_model
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    checkpoint = folder / modelfile.CHECKPOINT_DIR / modelfile.CHECKPOINT
    args = ["--ratings", str(ratings_csv), "--epochs", "200", "--out", str(folder)]
    trainer = subprocess.Popen(
        [sys.executable, "-c", _TRAIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(checkpoint.exists, trainer, "checkpoint")
        trainer.send_signal(signum)
        _, stderr = trainer.communicate(timeout=30)
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.communicate()
    assert trainer.returncode == status, stderr
    assert "Traceback" not in stderr
    [line] = stderr.splitlines()
    assert line.startswith(f"{said} after epoch ") and line.endswith(
        "run the same command with --resume to go on"
    )
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != modelfile.CHECKPOINT_DIR} == before
    assert not modelfile.lock_path(folder).exists()

    # Resumable: the same settings and data go on from the checkpoint (stopped again after one more epoch).
    _, values = modelfile.read_checkpoint(checkpoint.parent)
    done = values["epoch"]
    assert done >= 1 and f"after epoch {done} of 200" in line
    rows = []

    def stop_after_a_new_epoch(stats) -> None:
        rows.append(stats)
        if not stats.restored:
            raise KeyboardInterrupt

    dataset = DataOptions(ratings=ratings_csv).load()
    with pytest.raises(TrainingInterrupted):
        train(
            dataset,
            TrainConfig.from_dict(values["config"]),
            callbacks=[stop_after_a_new_epoch],
            checkpoint_dir=checkpoint.parent,
            resume=True,
        )
    assert [row.restored for row in rows] == [True] * done + [False]


class _FullDisk:
    """A file whose every write fails as on a full disk; everything else goes to the real file."""

    def __init__(self, handle) -> None:
        self._handle = handle

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str):
        return getattr(self._handle, name)


def test_a_full_disk_during_download_keeps_the_last_good_copy(
    site: Site,  # noqa: F811 (the fixture of test_download)
    bookrec_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pooch.downloaders

    _download(site, "/goodbooks-10k.zip", _sha(GOOD_ZIP))
    before = _tree(bookrec_home)

    def full_disk_open(*args: object, **kwargs: object) -> _FullDisk:
        return _FullDisk(open(*args, **kwargs))  # pooch closes it

    monkeypatch.setattr(pooch.downloaders, "open", full_disk_open, raising=False)  # pooch opens its file
    with pytest.raises(DownloadError) as raised:
        _download(site, "/goodbooks-10k.zip", _sha(GOOD_ZIP), force=True)
    downloads = bookrec_home / "downloads"
    assert str(raised.value).startswith(f"could not write {downloads}: no space left on the device; ")
    assert "\n" not in str(raised.value)
    assert _tree(bookrec_home) == before  # the kept zip and the unpacked copy, and no partial file
