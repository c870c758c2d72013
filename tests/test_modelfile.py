"""Model folders: round trip, atomic replacement, and refusal of corrupt, tampered or newer files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bookrec.errors import ModelFileError
from bookrec.modelfile import MANIFEST, WEIGHTS, last_model_path, remember_last_model
from bookrec.recommender import Recommender
from conftest import FIXTURES


@pytest.fixture
def saved(planted_model, tmp_path: Path) -> tuple[Recommender, Path]:
    recommender, _ = planted_model
    return recommender, recommender.save(tmp_path / "model")


def test_round_trip_answers_the_same(saved) -> None:
    recommender, folder = saved
    expected = ["books.arrow", "lookups.safetensors", MANIFEST, "users.arrow", WEIGHTS]
    assert sorted(p.name for p in folder.iterdir()) == expected
    loaded = Recommender.load(folder)
    # Weights are stored as float32: the same books in the same order, scores equal to float32 precision.
    for ask in (
        lambda r: r.similar(1, k=5),
        lambda r: r.recommend(3, k=5),
        lambda r: r.recommend_for(["The Hunger Games"], k=5),
    ):
        before, after = ask(recommender), ask(loaded)
        assert [b.book_id for b in after] == [b.book_id for b in before]
        assert [b.because for b in after] == [b.because for b in before]
        assert [b.score for b in after] == pytest.approx([b.score for b in before], rel=1e-5)
    assert np.array_equal(loaded.users.ids, recommender.users.ids)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["format_version"] == 2 and manifest["model"]["kind"] == "dot"
    assert set(manifest["files"]) == {"books.arrow", "lookups.safetensors", "users.arrow", WEIGHTS}
    assert all(value.startswith("xxh3_128:") for value in manifest["files"].values())


def test_no_pickle_in_the_folder(saved) -> None:
    _, folder = saved
    for path in folder.iterdir():
        assert b"\x80\x04\x95" not in path.read_bytes()[:64]  # pickle protocol 4 header


def test_overwrite_is_atomic_and_complete(saved) -> None:
    recommender, folder = saved
    recommender.save(folder)
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []
    Recommender.load(folder)


def test_tampered_weights_are_refused(saved) -> None:
    _, folder = saved
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[-10] ^= 0xFF
    (folder / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        Recommender.load(folder)


def test_truncated_weights_are_refused(saved) -> None:
    _, folder = saved
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError) as caught:
        Recommender.load(folder)
    assert "\n" not in str(caught.value)


def test_newer_format_is_refused(saved) -> None:
    _, folder = saved
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["format_version"] = 99
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="newer bookrec"):
        Recommender.load(folder)


def test_corrupt_manifest_and_missing_folder(saved, tmp_path: Path) -> None:
    _, folder = saved
    (folder / MANIFEST).write_text("{not json")
    with pytest.raises(ModelFileError, match="corrupt manifest"):
        Recommender.load(folder)
    with pytest.raises(ModelFileError, match="no such model folder"):
        Recommender.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="not a bookrec model"):
        Recommender.load(tmp_path / "empty")


def test_last_model_is_the_default(saved) -> None:
    _, folder = saved
    with pytest.raises(ModelFileError, match="bookrec train"):
        last_model_path()
    remember_last_model(folder)
    assert last_model_path() == folder.resolve()
    assert Recommender.load().n_books == Recommender.load(folder).n_books


def test_a_folder_that_is_not_a_model_is_never_replaced(saved, tmp_path: Path) -> None:
    recommender, _ = saved
    precious = tmp_path / "Documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(ModelFileError, match="not a bookrec model folder"):
        recommender.save(precious)
    assert (precious / "thesis.txt").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_saved_files_get_ordinary_permissions(saved) -> None:
    import os

    _, folder = saved
    mask = os.umask(0o022)
    os.umask(mask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~mask
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path.name


@pytest.mark.parametrize("kind", ["dot", "nn"])
def test_folders_from_before_the_model_contract_still_load_and_answer_the_same(kind: str) -> None:
    """Model format 1 as bookrec 0.1.0 wrote it (tests/fixtures/models-0.1.0, made by its make_models.py)."""
    folder = FIXTURES / "models-0.1.0"
    expected = json.loads((folder / "expected.json").read_text())[kind]
    served = Recommender.load(folder / kind)
    assert served.kind == kind
    n_users, n_books = served.n_users, served.n_books
    users, books = np.arange(n_users) % n_users, (np.arange(n_users) * 7) % n_books
    np.testing.assert_allclose(
        served.predict_positions(users, books), expected["predict_positions"], rtol=1e-6
    )
    assert [r.book_id for r in served.similar(1, k=5)] == expected["similar"]
    for name, answer in (
        ("recommend_for", served.recommend_for({1: 5.0, 2: 4.0, 3: 1.0}, k=5)),
        ("recommend", served.recommend(1, k=5)),
        ("biases", served.biases("highest", k=5)),
    ):
        assert [r.book_id for r in answer] == [row[0] for row in expected[name]], name
        np.testing.assert_allclose([r.score for r in answer], [row[1] for row in expected[name]], rtol=1e-5)
