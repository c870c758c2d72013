"""Generated bad input (ratings files, books files, command lines): exit 0, or exit 2 with one line; never a
traceback.

A fixed seed (``derandomize``) and a small example budget keep CI fast and repeatable; ``make fuzz`` runs the
same properties with ten times the examples (``BOOKREC_FUZZ_EXAMPLES``), seeded anew each run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bookrec.cli import app
from conftest import planted_recommender, sample_books, write_ratings

runner = CliRunner()
_BUDGET = int(os.environ.get("BOOKREC_FUZZ_EXAMPLES", "0"))
_FUZZ = settings(
    max_examples=_BUDGET or 40,
    derandomize=not _BUDGET,  # CI: the same examples every run; `make fuzz`: new ones each time
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def _exits_cleanly(result) -> None:
    """Exit 0, or exit 2 with one error line (and at most a usage hint); never a traceback."""
    detail = (result.exit_code, result.output, repr(result.exception))
    assert result.exit_code in (0, 2), detail
    assert "Traceback" not in result.output, detail
    if result.exit_code == 2:
        lines = result.stderr.splitlines()
        assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), detail


_FIELD = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "1", "5", "3.5", "nan", "-0", "1e400", "0x1", '"', '""', "1,2", "é", "\t"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6),
)
_HEADER = st.sampled_from(
    [
        "user_id,book_id,rating",
        "\ufeffuser_id,book_id,rating",
        "user_id;book_id;rating",
        "a,b,c",
        "",
        "user_id",
    ]
)


@st.composite
def _csv_text(draw: st.DrawFn, header: st.SearchStrategy[str] = _HEADER) -> bytes:
    rows = draw(st.lists(st.lists(_FIELD, min_size=1, max_size=4), max_size=12))
    text = "\n".join([draw(header), *(",".join(row) for row in rows)])
    data = text.encode("utf-8")
    if draw(st.booleans()) and data:  # now and then bytes that are not UTF-8, or a cut-off last line
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.sampled_from([b"", b"\xff\xfe", b"\x00", b"\r\n"]))
    return data


@_FUZZ
@given(data=_csv_text())
def test_any_ratings_file_loads_or_is_refused_in_one_line(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(data)
    _exits_cleanly(runner.invoke(app, ["info", "--ratings", str(path), "--json"]))


@_FUZZ
@given(data=_csv_text(st.sampled_from(["book_id,title", "book_id,title,authors", "id,name", "title"])))
def test_any_books_file_loads_or_is_refused_in_one_line(tmp_path: Path, data: bytes) -> None:
    ratings = write_ratings(tmp_path / "ratings.csv", [(1, 1, 5), (1, 2, 3), (2, 1, 4), (2, 3, 2)])
    books = tmp_path / "books.csv"
    books.write_bytes(data)
    _exits_cleanly(runner.invoke(app, ["info", "--ratings", str(ratings), "--books", str(books), "--json"]))


@pytest.fixture(scope="module")
def fuzz_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return planted_recommender(sample_books(40), n_users=20).save(tmp_path_factory.mktemp("fuzz") / "model")


# Commands that answer at once from a model or a file (not train, tune, download or app, which run long,
# reach the network or serve), and tokens a user might type, right or wrong.
_COMMANDS = [["info"], ["similar"], ["recommend"], ["explore"], ["evaluate"], ["split"]]
_TOKENS = [
    "MODEL", "1", "2", "0", "-1", "abc", "1e9", "", " ", "-k", "--k", "--user", "--liked", "--exclude",
    "--json", "--top-n", "--all", "--by", "rating", "--ratings", "--data", "--books", "--limit", "--sep",
    ";", "--encoding", "latin-9", "nope", "biases", "map", "--lowest", "--min-ratings", "--holdout", "0.5",
    "--out", "--help", "--no-such", "The Hunger Games", "=5", "Twilight=9", "--like-threshold", "nan",
]  # fmt: skip


@_FUZZ
@given(command=st.sampled_from(_COMMANDS), tokens=st.lists(st.sampled_from(_TOKENS), max_size=7))
def test_any_command_line_is_answered_or_refused_in_one_line(
    fuzz_model: Path, tmp_path: Path, command: list[str], tokens: list[str]
) -> None:
    args = [*command, *(str(fuzz_model) if t == "MODEL" else t for t in tokens)]
    if "--out" in args and command == ["split"]:
        args[args.index("--out")] = "--out=" + str(tmp_path / "split")
    if "map" in args:  # a picture is written where the command runs: keep it in tmp_path
        args += ["--out", str(tmp_path / "map.png")]
    _exits_cleanly(runner.invoke(app, args))


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another model of the same shape, whose files get swapped into the first's."""
    return planted_recommender(sample_books(40), n_users=20, seed=11).save(
        tmp_path_factory.mktemp("fuzz-other") / "model"
    )


def _digests(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@_FUZZ
@given(
    mutation=st.sampled_from(["truncate", "flip", "remove", "swap", "empty"]),
    which=st.integers(0, 100),
    where=st.floats(0.0, 1.0),
)
def test_any_damaged_model_folder_answers_or_is_refused_in_one_line(
    fuzz_model: Path, other_model: Path, tmp_path: Path, mutation: str, which: int, where: float
) -> None:
    """Each file of a model folder truncated, flipped, removed, emptied or swapped with another model's:
    the folder answers as it did, or is refused in one line; the other model is never touched."""
    import shutil

    folder = tmp_path / "damaged"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(fuzz_model, folder)
    before = _digests(other_model)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    target = files[which % len(files)]
    data = target.read_bytes()
    at = min(int(where * len(data)), max(len(data) - 1, 0))
    if mutation == "truncate":
        target.write_bytes(data[:at])
    elif mutation == "flip" and data:
        target.write_bytes(data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1 :])
    elif mutation == "remove":
        target.unlink()
    elif mutation == "empty":
        target.write_bytes(b"")
    elif mutation == "swap" and (other_model / target.name).is_file():
        target.write_bytes((other_model / target.name).read_bytes())
    result = runner.invoke(app, ["similar", str(folder), "id:1", "-k", "2", "--json"])
    _exits_cleanly(result)
    if result.exit_code == 0:  # it loaded: then it is the model it was (a damage no answer depends on)
        pristine = runner.invoke(app, ["similar", str(fuzz_model), "id:1", "-k", "2", "--json"])
        assert result.stdout == pristine.stdout
    assert _digests(other_model) == before
