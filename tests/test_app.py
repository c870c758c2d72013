"""The web app under Streamlit's AppTest: every page, its empty and error states; the `bookrec app` launcher.

The model is planted (four taste clusters over real book metadata), saved as a model folder and named by
$BOOKREC_APP_MODEL, as `bookrec app MODEL` does. Widgets are driven by their keys; assertions read what is
shown.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import BOOKS_SAMPLE, N_CLUSTERS, planted_recommender
from conftest import PLANTED_MANIFEST as MANIFEST

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from streamlit.testing.v1 import AppTest

from bookrec.app import MAIN_SCRIPT, MODEL_ENV, cards, query, text
from bookrec.cli import app as cli_app
from bookrec.recommender import BookResult

PAGES = {
    "similar": ("views/similar.py", "Similar books"),
    "next_read": ("views/next_read.py", "Your next read"),
    "explore": ("views/explore.py", "Explore"),
    "about": ("views/about.py", "About this model"),
}


def save_model(folder: Path, manifest: dict[str, Any] | None = None, n_books: int = 120) -> Path:
    """Save the planted model over the first ``n_books`` sample books as a model folder."""
    recommender = planted_recommender(pd.read_csv(BOOKS_SAMPLE).head(n_books))
    recommender.manifest.update(MANIFEST if manifest is None else manifest)
    return recommender.save(folder)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(tmp_path_factory.mktemp("app") / "model")


@pytest.fixture(scope="module")
def cluster_of(model_folder: Path) -> dict[int, int]:
    ids = pd.read_csv(BOOKS_SAMPLE).head(120).book_id.tolist()
    return {int(book_id): i % N_CLUSTERS for i, book_id in enumerate(ids)}


def open_page(page: str, query_params: dict[str, str] | None = None) -> AppTest:
    """Run the app on one page (with the address's query), as a browser opening it would."""
    at = AppTest.from_file(str(MAIN_SCRIPT), default_timeout=30)
    at.query_params.update(query_params or {})
    at.run()  # the default page; the run registers the pages, so that switch_page can find them
    return at if page == "similar" else at.switch_page(PAGES[page][0]).run()


@pytest.fixture
def serve(model_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Serve the planted model, as `bookrec app MODEL` does."""
    monkeypatch.setenv(MODEL_ENV, str(model_folder))
    return model_folder


def shown_ids(at: AppTest, scope: str) -> list[int]:
    """Book ids of the cards of one grid (``scope``), in order."""
    cards_html = "".join(m.value for m in at.markdown if f'data-scope="{scope}"' in m.value)
    return [int(i) for i in re.findall(r'data-book-id="(\d+)"', cards_html)]


def cards_text(at: AppTest) -> str:
    return "".join(m.value for m in at.markdown if "bookrec-card" in m.value)


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(e.value) for e in at.get(kind))


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# --- every page ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_on_a_model(page: str, serve: Path) -> None:
    at = open_page(page)
    assert_clean(at)
    assert at.title[0].value == PAGES[page][1]
    assert "120 books" in texts(at, "caption")  # the sidebar names the model in use


@pytest.mark.parametrize("page", list(PAGES))
def test_without_a_model_every_page_says_how_to_get_one(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_ENV, raising=False)
    at = open_page(page)
    assert not at.exception
    assert "no trained model yet" in texts(at, "info")
    assert "bookrec download" in texts(at, "code") and "bookrec train" in texts(at, "code")
    train = at.button(key="train_model")
    assert train.disabled  # no data to train on in this empty BOOKREC_HOME
    assert "bookrec download" in texts(at, "caption")


@pytest.mark.parametrize("page", list(PAGES))
def test_a_broken_model_is_one_friendly_line(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = save_model(tmp_path / "broken")
    with open(broken / "weights.safetensors", "r+b") as handle:
        handle.truncate(100)
    monkeypatch.setenv(MODEL_ENV, str(broken))
    at = open_page(page)
    assert not at.exception
    assert len(at.error) == 1
    assert "could not be loaded" in at.error[0].value and "truncated" in at.error[0].value
    assert "\n" not in at.error[0].value.split(": ", 1)[1]


@pytest.mark.parametrize("page", list(PAGES))
def test_an_unexpected_error_is_a_message_not_a_traceback(
    page: str, serve: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("bookrec.app.state.model_path", boom)
    at = open_page(page)
    assert not at.exception
    assert "Something went wrong: RuntimeError: disk on fire" in texts(at, "error")


def test_the_train_button_trains_a_model_and_serves_it(
    bookrec_home: Path, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    pytest.importorskip("bookrec.train")
    from conftest import planted_ratings, sample_book_ids, write_ratings

    monkeypatch.delenv(MODEL_ENV, raising=False)
    data = bookrec_home / "goodbooks-10k"
    data.mkdir()
    users, books, stars = planted_ratings(rng, 40, sample_book_ids(), 12)
    write_ratings(
        data / "ratings.csv", [(int(u), int(b), int(s)) for u, b, s in zip(users, books, stars, strict=True)]
    )
    (data / "books.csv").write_bytes(BOOKS_SAMPLE.read_bytes())
    at = open_page("similar")
    assert not at.button(key="train_model").disabled
    at.button(key="train_model").click().run()
    assert_clean(at)
    assert at.text_input(key="similar_find")  # the page now serves the new model
    assert (bookrec_home / "models" / "default" / "manifest.json").is_file()
    at.switch_page(PAGES["about"][0]).run()  # what training records, as the app shows it
    assert_clean(at)
    assert {"Validation RMSE", "Epochs"} <= {m.label for m in at.metric}
    assert _chart(at, "learning_curve")["data"]


# --- similar books ---------------------------------------------------------------------------------------


def pick(at: AppTest, box: str, typed: str, book: int) -> AppTest:
    """Type into a search field and pick the suggestion of ``book``, as a reader does."""
    at.text_input(key=box).input(typed).run()
    return at.button(key=f"{box}_pick_{book}").click().run()


def test_similar_books_are_the_planted_neighbours(serve: Path, cluster_of: dict[int, int]) -> None:
    at = open_page("similar")
    assert "Pick a book" in texts(at, "info")
    at.number_input(key="similar_min_ratings").set_value(0)
    pick(at, "similar_find", "sorcerer's stone", 2)
    assert_clean(at)
    assert shown_ids(at, "chosen") == [2]
    similar = shown_ids(at, "similar")
    assert len(similar) == 12 and 2 not in similar
    assert all(cluster_of[b] == cluster_of[2] for b in similar)
    assert at.query_params["book"] == "2"  # the answer can be shared
    assert at.text_input(key="similar_find").value == ""  # ready for the next search
    assert "similarity" in cards_text(at) and "goodreads.com/book/show/" in cards_text(at)
    at.slider(key="similar_k").set_value(20).run()
    assert len(shown_ids(at, "similar")) == 20


def test_suggestions_show_title_author_year_and_ratings(serve: Path) -> None:
    at = open_page("similar")
    at.text_input(key="similar_find").input("hunger games").run()
    labels = [b.label for b in at.button if b.key.startswith("similar_find_pick_")]
    assert 1 <= len(labels) <= 6
    assert labels[0].startswith("The Hunger Games") and "Suzanne Collins" in labels[0]
    assert "2008" in labels[0] and re.search(r"· [\d,]+ ratings$", labels[0])
    at.text_input(key="similar_find").input("qqqqzzzz").run()
    assert "No book matches" in texts(at, "caption")


def test_more_like_this_follows_a_card(serve: Path) -> None:
    at = open_page("similar", {"book": "2"})
    nearest = shown_ids(at, "similar")[0]
    at.button(key=f"similar_more_{nearest}").click().run()
    assert_clean(at)
    assert at.query_params["book"] == str(nearest) and shown_ids(at, "chosen") == [nearest]


def test_a_shared_link_opens_the_same_answer(serve: Path) -> None:
    at = open_page("similar", {"book": "2"})
    assert_clean(at)
    assert shown_ids(at, "chosen") == [2]


def test_a_link_to_an_unknown_book_is_a_friendly_error(serve: Path) -> None:
    at = open_page("similar", {"book": "999999"})
    assert not at.exception
    assert "does not know" in at.error[0].value and "999999" in at.error[0].value
    assert shown_ids(at, "chosen") == []
    assert "book" not in at.query_params


def test_a_floor_above_every_book_says_so(serve: Path) -> None:
    at = open_page("similar", {"book": "1"})
    at.number_input(key="similar_min_ratings").set_value(100000).run()
    assert "No book has 100,000 ratings" in texts(at, "info")


def test_few_ratings_are_marked(serve: Path, model_folder: Path) -> None:
    from bookrec.recommender import Recommender

    counts = Recommender.load(model_folder).books_table.set_index("book_id")["n_ratings"]
    rare = int(counts.idxmin())
    at = open_page("similar", {"book": str(rare)})
    at.number_input(key="similar_min_ratings").set_value(0).run()
    assert_clean(at)
    assert "few ratings" in next(m.value for m in at.markdown if 'data-scope="chosen"' in m.value)
    assert "rough guess" in texts(at, "warning")
    common = int(counts.idxmax())
    at = open_page("similar", {"book": str(common)})
    assert "few ratings" not in next(m.value for m in at.markdown if 'data-scope="chosen"' in m.value)


# --- your next read --------------------------------------------------------------------------------------


def test_next_read_starts_empty(serve: Path) -> None:
    at = open_page("next_read")
    assert_clean(at)
    assert "Add a few books you liked" in texts(at, "info")
    assert shown_ids(at, "next") == []


def test_adding_books_puts_them_in_the_address_and_resets_the_stars(
    serve: Path, cluster_of: dict[int, int]
) -> None:
    at = open_page("next_read")
    at.segmented_control(key="next_add_stars").set_value(5.0)
    pick(at, "next_add", "sorcerer's stone", 2)
    assert at.query_params["liked"] == "2:5"
    assert at.segmented_control(key="next_add_stars").value is None  # the next book gets no stars by mistake
    assert at.text_input(key="next_add").value == ""
    pick(at, "next_add", "fault in our stars", 6)
    assert_clean(at)
    assert at.query_params["liked"] == "2:5,6"
    results = shown_ids(at, "next")
    assert len(results) == 12 and not {2, 6} & set(results)
    assert sum(cluster_of[b] == cluster_of[2] for b in results) >= 10
    assert "Because you liked" in cards_text(at) and "predicted" in cards_text(at)
    assert cards_text(at).count("Because you liked") == 12  # one reason per card


def test_card_actions_like_shelve_and_follow(serve: Path) -> None:
    at = open_page("next_read", {"liked": "2:5"})
    first, second, third = shown_ids(at, "next")[:3]
    at.segmented_control(key=f"next_like_{first}").set_value(4.0).run()
    assert at.query_params["liked"] == f"2:5,{first}:4"
    assert first not in shown_ids(at, "next")
    at.button(key=f"next_read_{second}").click().run()
    assert at.query_params["read"] == str(second) and second not in shown_ids(at, "next")
    at.button(key=f"next_want_{third}").click().run()
    assert at.query_params["want"] == str(third)
    assert at.button(key=f"remove_want_{third}")  # the shelf shows it, with its remove button
    at.button(key=f"remove_read_{second}").click().run()
    assert "read" not in at.query_params
    more = shown_ids(at, "next")[0]
    at.button(key=f"next_more_{more}").click().run()
    assert_clean(at)
    assert at.title[0].value == "Similar books" and shown_ids(at, "chosen") == [more]
    assert at.query_params["liked"] == f"2:5,{first}:4"  # the lists travel with the reader


def test_the_list_in_the_address_survives_a_reload(serve: Path, cluster_of: dict[int, int]) -> None:
    at = open_page("next_read", {"liked": "2:5,6,10:4"})
    assert_clean(at)
    results = shown_ids(at, "next")
    assert not {2, 6, 10} & set(results)
    assert sum(cluster_of[b] == 1 for b in results) >= 10
    remove = at.button(key="remove_liked_6")
    assert "Fault in Our Stars" in remove.label and "Remove" in remove.help  # a labelled remove button
    at.selectbox(key="next_edit").set_value("6").run()
    at.segmented_control(key="next_edit_stars").set_value(3.0).run()
    assert at.query_params["liked"] == "2:5,6:3,10:4"
    at.button(key="remove_liked_6").click().run()
    assert at.query_params["liked"] == "2:5,10:4"
    at.button(key="next_clear").click().run()
    assert "liked" not in at.query_params
    assert "Add a few books you liked" in texts(at, "info")


def test_books_already_read_come_back_from_the_address(serve: Path) -> None:
    plain = shown_ids(open_page("next_read", {"liked": "2:5"}), "next")
    at = open_page("next_read", {"liked": "2:5", "read": f"{plain[0]},{plain[1]},424242"})
    assert_clean(at)
    assert at.query_params["read"] == f"{plain[0]},{plain[1]}"
    assert not set(plain[:2]) & set(shown_ids(at, "next"))


def test_what_the_model_cannot_use_is_left_out_with_a_warning(serve: Path) -> None:
    at = open_page("similar", {"liked": "2:5,abc:x,999999,10:9"})  # any page reads the lists of a link
    assert not at.exception
    warning = texts(at, "warning").replace("\\", "").replace("\u2060", "")
    assert "abc:x" in warning and "999999" in warning and "10:9 (stars go 1 to 5)" in warning
    assert at.query_params["liked"] == "2:5,10"
    at.switch_page(PAGES["next_read"][0]).run()
    assert len(shown_ids(at, "next")) == 12


def test_a_long_link_is_cut_to_the_cap_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bookrec.app import shelves

    monkeypatch.setenv(MODEL_ENV, str(save_model(tmp_path / "big", n_books=332)))
    ids = pd.read_csv(BOOKS_SAMPLE).book_id.tolist()
    at = open_page("similar", {"liked": ",".join(map(str, ids[:250]))})  # the link lands here
    assert_clean(at)
    assert f"at most {shelves.MAX_BOOKS} books" in texts(at, "warning") and "250 books liked" in texts(
        at, "warning"
    )
    assert len(at.query_params["liked"].split(",")) == shelves.MAX_BOOKS
    at.switch_page(PAGES["next_read"][0]).run()
    assert len(shown_ids(at, "next")) == 12
    assert len([b for b in at.button if b.key.startswith("remove_liked_")]) <= 24  # chips, then "Show all"
    at.toggle(key="all_liked").set_value(True).run()
    assert len([b for b in at.button if b.key.startswith("remove_liked_")]) == shelves.MAX_BOOKS
    unliked = ids[shelves.MAX_BOOKS + 10]
    pick(at, "next_add", pd.read_csv(BOOKS_SAMPLE).set_index("book_id").title[unliked], unliked)
    assert "take one off" in texts(at, "warning")
    assert str(unliked) not in at.query_params["liked"].split(",")


def test_a_model_without_a_ranking_model_offers_no_order_control(serve: Path) -> None:
    at = open_page("next_read", {"liked": "2:5"})
    assert_clean(at)
    assert not [r for r in at.radio if r.key == "next_by"]
    assert "match " not in cards_text(at)


def test_next_read_orders_by_match_or_by_rating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trained model has a ranking model: the list is ordered by match unless the reader asks otherwise."""
    from bookrec.config import TrainConfig
    from bookrec.train import train
    from conftest import planted_dataset

    data = planted_dataset(np.random.default_rng(4), n_users=120, n_books=100, per_user=20)
    books = pd.read_csv(BOOKS_SAMPLE)
    data = type(data).from_ratings(
        data.users.id_of(data.user_idx),
        data.books.id_of(data.book_idx),
        data.rating,
        rating_scale=(1, 5),
        books=books,
    )
    monkeypatch.setenv(MODEL_ENV, str(train(data, TrainConfig(epochs=2)).save(tmp_path / "ranked")))
    at = open_page("next_read", {"liked": "2:5,7:4"})
    assert_clean(at)
    assert at.radio(key="next_by").value == "match"
    by_match = shown_ids(at, "next")
    assert "match " in cards_text(at)
    at.radio(key="next_by").set_value("rating").run()
    assert_clean(at)
    by_rating = shown_ids(at, "next")
    assert "match " not in cards_text(at)
    assert by_match != by_rating and len(by_match) == len(by_rating) == 12


# --- explore ---------------------------------------------------------------------------------------------


def test_loved_and_disliked_books(serve: Path) -> None:
    at = open_page("explore")
    at.select_slider(key="explore_min_ratings").set_value(0).run()
    assert_clean(at)
    loved, disliked = (frame.value for frame in at.dataframe)
    titles = pd.read_csv(BOOKS_SAMPLE).set_index("book_id").title
    assert loved["Title"].iloc[0] == titles[6]  # the planted favourite
    assert disliked["Title"].iloc[0] == titles[7]  # and the planted flop
    assert len(loved) == 15 and loved["Bias"].is_monotonic_decreasing
    assert list(loved.columns[:3]) == ["Title", "Bias", "Ratings"]  # what a phone shows first
    floor = int(at.select_slider(key="explore_min_ratings").options[-1])
    at.select_slider(key="explore_min_ratings").set_value(floor).run()
    assert floor == 10 and (at.dataframe[0].value["Ratings"] >= floor).all()  # no floor hides every book


def _points(trace: dict[str, Any]) -> int:
    """Points in a plotly trace (plotly writes numeric arrays as base64 typed arrays)."""
    x = trace["x"]
    if isinstance(x, dict):
        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"]).size
    return len(x)


def _chart(at: AppTest, key: str = "map_chart") -> dict[str, Any]:
    (chart,) = [c for c in at.get("plotly_chart") if key in c.proto.id]
    return json.loads(chart.proto.spec)


def test_the_map_of_books_in_plain_words(serve: Path) -> None:
    at = open_page("explore")
    at.radio(key="explore_view").set_value("Map of books").run()
    assert_clean(at)
    spec = _chart(at)
    assert sum(_points(trace) for trace in spec["data"]) == 120
    assert "%{customdata[0]}" in spec["data"][0]["hovertemplate"]
    axis = spec["layout"]["xaxis"]["title"]["text"]
    assert axis.startswith("← more like ") and "component" not in axis and "variance" not in axis
    assert len(spec["layout"]["annotations"]) == 10  # the landmark books, labelled
    decades = at.select_slider(key="map_decades")
    assert decades.options[0] == "before 1900" and decades.options[-1] == "2010s"
    at.multiselect(key="map_authors").select("Suzanne Collins").run()
    names = [trace.get("name") for trace in _chart(at)["data"]]
    assert names == ["other books", "Suzanne Collins"]
    assert _points(_chart(at)["data"][1]) == 3  # The Hunger Games trilogy
    at.multiselect(key="map_authors").set_value([]).run()
    at.radio(key="map_colour").set_value("nothing").run()
    assert len(_chart(at)["data"]) == 1
    at.select_slider(key="map_decades").set_value(("2000s", "2000s")).run()
    assert_clean(at)
    assert "books." in texts(at, "caption")
    assert 0 < _points(_chart(at)["data"][0]) < 120


# --- about -----------------------------------------------------------------------------------------------


def test_about_shows_data_settings_metrics_and_the_learning_curve(serve: Path) -> None:
    at = open_page("about")
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Books"] == "120" and metrics["Readers"] == "80" and metrics["Ratings trained on"] == "576"
    assert metrics["Validation RMSE"] == "0.912"
    curve = _chart(at, "learning_curve")
    assert [t["name"] for t in curve["data"]] == ["training loss", "validation loss"]
    settings = at.dataframe[0].value
    assert dict(zip(settings.setting, settings.value, strict=True))["wd"] == "0.05"
    assert "planted test data" in texts(at, "markdown")
    assert not at.warning  # real (here: planted, not synthetic) data


@pytest.mark.parametrize("synthetic", [False, True])
def test_the_synthetic_banner_shows_on_every_page_only_for_a_model_trained_on_synthetic_ratings(
    synthetic: bool,
    goodbooks_folder: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("bookrec.train")
    from bookrec.data import load_dataset
    from bookrec.train import TrainConfig, train

    dataset = dataclasses.replace(load_dataset(goodbooks_folder()), synthetic=synthetic)
    folder = train(dataset, TrainConfig(epochs=2)).save(tmp_path / "model")
    monkeypatch.setenv(MODEL_ENV, str(folder))
    for page in PAGES:
        at = open_page(page)
        assert_clean(at)
        banners = [w.value for w in at.warning if "SYNTHETIC" in w.value]
        assert len(banners) == synthetic, page  # the manifest's flag decides, not the word among its keys
    assert ("SYNTHETIC ratings" in texts(at, "markdown")) == synthetic  # About says where it came from


def test_the_synthetic_banner_follows_the_manifest_not_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "synthetic-looking"
    data.mkdir()
    (data / "README.txt").write_text("SYNTHETIC DATA: the ratings in this folder are SYNTHETIC.\n")
    manifest = {**MANIFEST, "data": {"name": str(data), "synthetic": False, "n_train": 10, "n_valid": 2}}
    monkeypatch.setenv(MODEL_ENV, str(save_model(tmp_path / "model", manifest)))
    at = open_page("about")
    assert_clean(at)
    assert not at.warning


def test_about_a_model_without_history_or_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_ENV, str(save_model(tmp_path / "model", {})))
    at = open_page("about")
    assert_clean(at)
    info = texts(at, "info")
    assert "records no metrics" in info and "records no training history" in info
    assert "not recorded" in texts(at, "markdown")


# --- hostile titles and links --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted model with the first books' titles (and one author, and the data's name) hostile."""
    books = pd.read_csv(BOOKS_SAMPLE).head(120)
    for i, value in enumerate(HOSTILE):
        books.loc[i, "title"] = value
    books.loc[0, "authors"] = "<i>Evil</i> :material/warning: [Author](https://evil.example)"
    recommender = planted_recommender(books)
    recommender.manifest.update({**MANIFEST, "data": {**MANIFEST["data"], "name": HOSTILE[0]}})
    return recommender.save(tmp_path_factory.mktemp("hostile") / "model")


_MARKDOWN_FIELDS = {"body", "label", "help", "placeholder", "options", "caption", "text"}


def _strings(value: Any, field: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _strings(inner, key)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner, field)
    elif isinstance(value, str):
        yield field, value


def assert_inert(at: AppTest, where: str) -> None:
    """Every text the page sends shows hostile values verbatim: no live link, image, HTML, LaTeX, icon."""
    from google.protobuf.json_format import MessageToDict

    assert not at.exception, (where, [e.value for e in at.exception])
    elements: list[Any] = []

    def walk(node: Any) -> None:
        elements.append(node)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    for element in elements:
        proto = getattr(element, "proto", None)
        if proto is None or not hasattr(proto, "DESCRIPTOR"):
            continue
        fields = MessageToDict(proto)
        if fields.get("allowHtml"):  # the app's own HTML: cards
            body = fields["body"]
            assert "<b>bold" not in body and "<img src=x" not in body and "<i>Evil" not in body, where
            assert (
                ":material/" not in body
                and "$\\huge" not in body
                and "evil.example" not in body.replace("&#58;//evil.example", "")
            ), where
            continue
        if "spec" in fields and "data" in fields.get("spec", ""):  # plotly: tooltips and labels
            spec = fields["spec"]
            assert "<b>bold" not in spec and "<i>Evil" not in spec and ":material/" not in spec, where
            continue
        for field, value in _strings(fields):
            if field in _MARKDOWN_FIELDS and (
                "evil" in value.lower() or any(h.split()[0] in value for h in HOSTILE)
            ):
                live = [p.pattern for p in _LIVE_MARKDOWN if p.search(value)]
                if field == "options" and element.type in ("selectbox", "multiselect"):
                    continue  # select boxes show options as plain text
                assert not live, (where, field, value, live)


def test_hostile_titles_and_links_show_as_text_on_every_page(
    hostile_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_ENV, str(hostile_folder))
    link = HOSTILE[0]
    at = open_page("similar", {"book": link})
    assert "does not know" in texts(at, "error")
    assert_inert(at, "similar: a hostile link")
    at = open_page("similar", {"book": "1", "liked": f"1:5,2,3,{link}", "read": "4", "want": "5"})
    at.number_input(key="similar_min_ratings").set_value(0).run()
    assert_inert(at, "similar: a hostile book")
    at.text_input(key="similar_find").input("session expired").run()
    assert any(b.key == "similar_find_pick_1" for b in at.button)
    assert_inert(at, "similar: suggestions")
    at.switch_page(PAGES["next_read"][0]).run()
    assert len(shown_ids(at, "next")) == 12
    assert_inert(at, "next read")
    at.switch_page(PAGES["explore"][0]).run()
    at.select_slider(key="explore_min_ratings").set_value(0).run()
    assert HOSTILE[0] in set(at.dataframe[0].value["Title"]) | set(at.dataframe[1].value["Title"])
    assert_inert(at, "explore: tables")
    at.radio(key="explore_view").set_value("Map of books").run()
    at.multiselect(key="map_authors").select("<i>Evil</i> :material/warning: [Author](https://evil.example)")
    at.run()
    assert_inert(at, "explore: map")
    at.switch_page(PAGES["about"][0]).run()
    assert_inert(at, "about")


# --- genres ----------------------------------------------------------------------------------------------

GENRES = ("fantasy", "romance", "mystery", "non-fiction")
"""The genre model's book i is of GENRES[i % 4], its taste cluster's genre."""


@pytest.fixture(scope="module")
def genre_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    recommender = planted_recommender(pd.read_csv(BOOKS_SAMPLE).head(120))
    table = recommender.books_table.copy()
    table["genres"] = [GENRES[i % N_CLUSTERS] for i in range(len(table))]
    recommender = dataclasses.replace(recommender, books_table=table)
    recommender.manifest.update(MANIFEST)
    return recommender.save(tmp_path_factory.mktemp("genres") / "model")


@pytest.fixture
def serve_genres(genre_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(MODEL_ENV, str(genre_folder))
    return genre_folder


def test_similar_books_filtered_by_genre(serve_genres: Path, cluster_of: dict[int, int]) -> None:
    at = open_page("similar", {"book": "2"})
    assert "romance (30)" in at.multiselect(key="similar_genres").options
    at.multiselect(key="similar_genres").set_value(["romance"]).run()
    assert_clean(at)
    shown = shown_ids(at, "similar")
    assert len(shown) == 12 and all(GENRES[cluster_of[b]] == "romance" for b in shown)


def test_next_read_filtered_by_genre(serve_genres: Path, cluster_of: dict[int, int]) -> None:
    at = open_page("next_read", {"liked": "2:5"})
    at.multiselect(key="next_genres").set_value(["mystery", "fantasy"]).run()
    assert_clean(at)
    shown = shown_ids(at, "next")
    assert shown and all(GENRES[cluster_of[b]] in ("mystery", "fantasy") for b in shown)


def test_a_new_reader_starts_from_genres_and_likes_a_starter(
    serve_genres: Path, cluster_of: dict[int, int]
) -> None:
    at = open_page("next_read")
    assert "Pick a few genres" in texts(at, "caption")
    at.multiselect(key="next_start_genres").set_value(["mystery"]).run()
    assert_clean(at)
    starters = shown_ids(at, "start")
    assert len(starters) == 12 and all(GENRES[cluster_of[b]] == "mystery" for b in starters)
    assert "for the average reader" in cards_text(at)
    at.segmented_control(key=f"start_like_{starters[0]}").set_value("liked").run()
    assert_clean(at)
    assert at.query_params["liked"] == str(starters[0])
    assert shown_ids(at, "next") and shown_ids(at, "start") == []  # the recommendations take over


def test_a_model_without_genres_offers_no_filter(serve: Path) -> None:
    at = open_page("similar", {"book": "2"})
    assert "have no genres" in texts(at, "caption")
    assert not [w for w in at.multiselect if w.key == "similar_genres"]


# --- cards and the address -------------------------------------------------------------------------------


def _result(**fields: Any) -> BookResult:
    values = {"book_id": 9, "title": "A Book", "authors": "An Author", "year": 2001, "score": 0.5}
    return BookResult(**{**values, **fields})


def test_cards_escape_text_and_keep_only_web_links() -> None:
    html = cards.card_html(
        _result(title="<script>alert(1)</script>", goodreads_url="javascript:alert(1)", image_url="x.jpg")
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript" not in html and "<img" not in html  # the placeholder shows


def test_covers_load_lazily_over_a_placeholder() -> None:
    cover = "https://images.gr-assets.com/books/1447303603m/2767052.jpg"
    html = cards.card_html(_result(image_url=cover, goodreads_url="https://www.goodreads.com/book/show/1"))
    assert f'<img src="{cover}"' in html and 'loading="lazy"' in html
    assert cards.PLACEHOLDER in cards._STYLE  # under every cover, and over a cover that fails to load
    nophoto = "https://s.gr-assets.com/assets/nophoto/book/111x148-bcc042a9c91a29c1d680899eff700a03.png"
    assert "<img" not in cards.card_html(_result(image_url=nophoto))


def test_a_card_says_few_ratings_below_the_threshold() -> None:
    assert "few ratings" in cards.card_html(_result(n_ratings=4), few_below=10)
    assert "few ratings" not in cards.card_html(_result(n_ratings=40), few_below=10)


HOSTILE = [
    "[Your session expired](https://evil.example/login)",
    "![x](https://evil.example/x.png)",
    r"$\huge{BIG}$",
    "<b>bold</b><img src=x>",
    ":material/home: icon",
    ":smile: emoji",
    "www.evil.example and a@evil.example",
    "line one\n\n# line two",
]
_LIVE_MARKDOWN = [
    re.compile(r"(?<!\\)\]\("),  # a link or an image
    re.compile(r"(?<!\\)[$<]"),  # LaTeX, HTML
    re.compile(r":[\w+-]+:|:material/"),  # a shortcode or an icon
    re.compile(r"https?:/|www\.|@evil"),  # GFM's bare links
    re.compile(r"\n"),
]


def test_text_is_shown_verbatim_in_markdown_and_html() -> None:
    for value in HOSTILE:
        shown = text.md(value)
        assert not any(p.search(shown) for p in _LIVE_MARKDOWN), (value, shown)
        unescaped = re.sub(r"\\(.)", r"\1", shown.replace("\u2060", ""))
        assert unescaped == " ".join(value.splitlines())  # the same characters, nothing added or lost
        inner = text.html_text(value)
        assert "<" not in inner and ":" not in inner and "$" not in inner and "\n" not in inner
        assert html.unescape(inner) == " ".join(value.splitlines())
    assert text.web_link("javascript:alert(1)") == "" and text.web_link('https://x.org/"><b>') == ""
    assert text.web_link(" https://www.goodreads.com/book/show/1 ") == "https://www.goodreads.com/book/show/1"


def test_the_liked_list_round_trips_through_the_address() -> None:
    liked, bad = query.parse_liked("26:5, 7,240:4.5,,x:y,:3,7:2")
    assert liked == {"26": 5.0, "240": 4.5, "7": 2.0}
    assert bad == ["x:y", ":3"]
    assert query.format_liked(liked) == "26:5,240:4.5,7:2"
    assert query.parse_liked(query.format_liked(liked))[0] == liked
    assert query.parse_ids("3, 9,3,,") == ["3", "9"]
    assert query.parse_liked("1:nan,2:inf")[1] == ["1:nan", "2:inf"]


# --- the launcher ----------------------------------------------------------------------------------------


class _FakeStreamlit:
    launched: ClassVar[list[tuple[list[str], dict[str, str]]]] = []

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.launched.append((command, env))

    def wait(self, timeout: float | None = None) -> int:
        return 0


@pytest.fixture
def fake_streamlit(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, str]]]:
    launched: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(_FakeStreamlit, "launched", launched)
    monkeypatch.setattr("bookrec.cli.app_cmd.subprocess.Popen", _FakeStreamlit)
    return launched


def test_bookrec_app_runs_streamlit_on_the_packaged_app(model_folder: Path, fake_streamlit: list) -> None:
    result = CliRunner().invoke(cli_app, ["app", str(model_folder), "--port", "8765"])
    assert result.exit_code == 0, result.output
    ((command, env),) = fake_streamlit
    assert command[1:5] == ["-m", "streamlit", "run", str(MAIN_SCRIPT)]
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options["--server.address"] == "127.0.0.1" and options["--server.port"] == "8765"
    assert options["--server.headless"] == "true" and options["--client.showErrorDetails"] == "none"
    assert env[MODEL_ENV] == str(model_folder.resolve())


def test_bookrec_app_defaults_to_the_last_model(
    fake_streamlit: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_ENV, "/somewhere/else")
    result = CliRunner().invoke(cli_app, ["app"])
    assert result.exit_code == 0, result.output
    ((command, env),) = fake_streamlit
    assert MODEL_ENV not in env and "8501" in command


def test_bookrec_app_refuses_a_missing_model_folder(tmp_path: Path, fake_streamlit: list) -> None:
    result = CliRunner().invoke(cli_app, ["app", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no such model folder" in result.stderr
    assert not fake_streamlit


def test_bookrec_app_says_how_to_install_streamlit(
    monkeypatch: pytest.MonkeyPatch, fake_streamlit: list
) -> None:
    real = __import__("importlib.util").util.find_spec
    monkeypatch.setattr(
        "bookrec.cli.app_cmd.importlib.util.find_spec",
        lambda name: None if name == "streamlit" else real(name),
    )
    result = CliRunner().invoke(cli_app, ["app"])
    assert result.exit_code == 2
    assert "pip install 'bookrec[app]'" in result.stderr and "streamlit" in result.stderr
    assert not fake_streamlit


def test_bookrec_app_help() -> None:
    result = CliRunner().invoke(cli_app, ["app", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "--port" in result.output and "last trained model" in result.output


def test_importing_bookrec_app_imports_no_streamlit() -> None:
    code = "import sys, bookrec, bookrec.app.query; print(sorted({'streamlit', 'plotly'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
