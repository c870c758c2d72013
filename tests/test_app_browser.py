"""End to end in a real browser: `bookrec app` serving a saved model, driven by headless Chromium.

Playwright for Python drives the system's Chromium (Debian's `chromium` package; no `playwright install`),
against the app served on 127.0.0.1 on a free port. A reader types a title, picks a suggestion and reads the
answer; the tests save a screenshot of each page to $BOOKREC_SCREENSHOTS (`make screenshots` sets it to
docs/screenshots/, which the README shows), else to a folder in the system's temporary directory: a bare
`pytest` never touches the committed screenshots.

Without Chromium (or Playwright) the tests are skipped, with the reason; with BOOKREC_REQUIRE_BROWSER=1 (CI)
they fail instead. BOOKREC_CHROMIUM names another Chromium or Chrome executable.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bookrec.data import Dataset
from bookrec.data.rated import RatedBooks
from bookrec.models import als
from bookrec.models.dot import DotHead
from bookrec.recommender import Recommender
from conftest import BOOKS_SAMPLE, PLANTED_MANIFEST, planted_recommender

REQUIRED = os.environ.get("BOOKREC_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get("BOOKREC_SCREENSHOTS") or Path(tempfile.gettempdir()) / "bookrec-screenshots"
)
VIEWPORT = {"width": 1400, "height": 1000}
START_TIMEOUT_S = 60


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason}, and BOOKREC_REQUIRE_BROWSER=1 requires the browser test")
    pytest.skip(f"{reason}; set BOOKREC_REQUIRE_BROWSER=1 to make this a failure")


def _chromium() -> str | None:
    """$BOOKREC_CHROMIUM, else Debian's chromium (or Ubuntu's name for it, or Chrome) on the PATH."""
    named = os.environ.get("BOOKREC_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A planted model over all 332 sample books in which each author's books lie close together.

    test_app's four planted clusters put unrelated books together; here a book's vector is its first author's
    direction plus noise (32 factors, so that 200 authors' directions hardly overlap), so that the answers and
    the screenshots make sense: The Hunger Games is most like Catching Fire.
    """
    pytest.importorskip("streamlit")
    books = pd.read_csv(BOOKS_SAMPLE)
    planted = planted_recommender(books, n_users=200)  # real metadata, and who rated what
    rng = np.random.default_rng(3)
    authors = pd.factorize(books.authors.str.split(",").str[0])[0]
    k = 32
    vectors = rng.normal(size=(authors.max() + 1, k))[authors] + rng.normal(scale=0.3, size=(len(books), k))
    reader_vectors = rng.normal(scale=0.3, size=(planted.n_users, k))
    head = DotHead(
        reader_vectors,
        planted.head.user_bias,
        0.5 * vectors,
        0.3 * planted.head.book_bias,
        planted.head.y_range,
    )
    # A ranking model fitted on who read what, as `bookrec train` makes one: the cards show a match, and
    # "because you liked" comes from its decomposition.
    # Each reader read the 12 books the planted head scores highest for them (a little noise in the order).
    taste = reader_vectors @ (0.5 * vectors).T + rng.gumbel(scale=0.5, size=(planted.n_users, len(books)))
    read = np.argsort(-taste, axis=1)[:, :12].ravel()
    reader = np.repeat(np.arange(planted.n_users), 12)
    stars = np.full(reader.size, 5.0)
    rated = RatedBooks.from_arrays(reader, read, stars, planted.n_users)
    reads = Dataset.from_ratings(
        planted.users.ids[reader], planted.books.ids[read], stars, rating_scale=(1, 5)
    )
    ranker = als.fit(reads, factors=32, regularization=1.0, alpha=5.0, iterations=10, seed=3)
    ranker = _in_model_order(ranker, reads, planted)
    recommender = dataclasses.replace(planted, head=head, rated=rated, ranker=ranker)
    recommender.manifest.update(PLANTED_MANIFEST)
    return recommender.save(tmp_path_factory.mktemp("browser") / "model")


def _in_model_order(ranker: als.AlsHead, reads: Dataset, model: Recommender) -> als.AlsHead:
    """The ranking model's factors re-indexed to the model's readers and books (books nobody read: zero)."""
    users = np.zeros((model.n_users, ranker.user_factors.shape[1]), dtype=np.float32)
    books = np.zeros((model.n_books, ranker.book_factors.shape[1]), dtype=np.float32)
    users[model.users.index_of(reads.users.ids)] = ranker.user_factors
    books[model.books.index_of(reads.books.ids)] = ranker.book_factors
    return als.AlsHead(users, books, ranker.regularization, ranker.alpha)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`bookrec app MODEL --port P` in its own process group; yields its base URL once healthy."""
    home = tmp_path_factory.mktemp("browser-home")
    log = home / "server.log"
    port = _free_port()
    env = {**os.environ, "BOOKREC_HOME": str(home)}
    command = [sys.executable, "-m", "bookrec", "app", str(model), "--port", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as answer:
                    if answer.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the app did not start (exit {process.poll()}):\n{log.read_text()[-2000:]}")
            time.sleep(0.1)  # polling a starting server: nothing to wait on but time
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    executable = _chromium()
    if executable is None:
        _unavailable("no Chromium found (apt-get install chromium)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_ARGS
            )
        except Error as error:
            _unavailable(f"Chromium at {executable} does not start: {str(error).splitlines()[0]}")
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    context = browser.new_context(viewport=VIEWPORT, base_url=server)
    yield context.new_page()
    context.close()


def _pick(page: Any, box: str, typed: str, option: str) -> None:
    """Type into a search field like a reader, and pick the suggestion that starts with ``option``."""
    from playwright.sync_api import expect

    field = page.get_by_role("searchbox", name=box)
    field.click()
    field.press_sequentially(typed, delay=10)
    suggestion = page.get_by_role("button", name=re.compile("^" + re.escape(option)))
    expect(suggestion.first).to_be_visible()
    suggestion.first.click()


def _settled(page: Any) -> None:
    """Wait for the script run in progress to end (call it once the run is known to have started)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def _screenshot(page: Any, name: str, height: int = VIEWPORT["height"]) -> None:
    """Save the page (``height`` pixels of it) once every element has been drawn."""
    from playwright.sync_api import expect

    if height != VIEWPORT["height"]:
        page.set_viewport_size({**VIEWPORT, "height": height})
    _settled(page)
    expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_type_a_title_pick_a_suggestion_read_similar_books(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    _pick(
        page, "Find a book", "hunger gam", "The Hunger Games (The Hunger Games, #1) — Suzanne Collins, 2008"
    )
    titles = page.locator('[data-scope="similar"] .bookrec-title')
    expect(titles).to_have_count(12)
    shown = titles.all_inner_texts()
    assert shown[0] == "Catching Fire (The Hunger Games, #2)"  # by the same author: planted nearest
    assert re.search(r"[?&]book=1\b", page.url)
    # Offline, the covers cannot load: the placeholder is what shows under (and over) them.
    cover = page.locator(".bookrec-cover").first
    assert "data:image/svg+xml" in cover.evaluate("el => getComputedStyle(el).backgroundImage")
    expect(page.get_by_role("link", name="Goodreads ↗").first).to_have_attribute(
        "href", "https://www.goodreads.com/book/show/2767052"
    )
    _screenshot(page, "similar")
    page.get_by_role("button", name="More like this").nth(1).click()  # the first similar book's card
    expect(page.locator('[data-scope="chosen"] .bookrec-title')).to_have_text(shown[0])


def test_your_next_read_adds_books_resets_the_stars_and_acts_on_cards(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/next_read")
    expect(page.get_by_text("Add a few books you liked")).to_be_visible()
    stars = page.locator(".st-key-next_add_stars")
    stars.get_by_role("radio", name="5★").click()
    _settled(page)
    _pick(page, "Add a book you liked", "sorcerer's sto", "Harry Potter and the Sorcerer's Stone")
    expect(page).to_have_url(re.compile(r"liked=2(:|%3A)5$"))
    _settled(page)
    # The panel folds away once the list has books: wait until the new run has folded it (a click before
    # then folds the open panel of the old run, and the search box stays hidden), then open it again.
    expect(page.get_by_role("searchbox", name="Add a book you liked")).to_be_hidden()
    _settled(page)
    page.get_by_text("Your books: add, rate, remove").click()
    expect(
        stars.get_by_role("radio", name="5★")
    ).not_to_be_checked()  # the next book gets no stars by mistake
    _pick(page, "Add a book you liked", "hobbit", "The Hobbit")
    expect(page).to_have_url(re.compile(r"liked=2(:|%3A)5(,|%2C)7$"))
    expect(page.locator(".st-key-chips_liked").get_by_role("button", name="The Hobbit")).to_be_visible()
    # The answer to the new list (the last one stays on screen until it comes): Tolkien joins Rowling.
    expect(page.locator(".bookrec-title", has_text="The Fellowship of the Ring")).to_be_visible()
    cards = page.locator('[data-scope="next"]')
    expect(cards).to_have_count(12)
    expect(cards.first.locator(".bookrec-because")).to_contain_text("Because you liked")
    _settled(page)
    before = page.locator('[data-scope="next"] .bookrec-title').all_inner_texts()
    assert "The Hobbit" not in before and "The Fellowship of the Ring (The Lord of the Rings, #1)" in before
    assert sum(title.startswith("Harry Potter") for title in before) >= 3
    page.reload()
    expect(cards).to_have_count(12)
    _settled(page)
    assert page.locator('[data-scope="next"] .bookrec-title').all_inner_texts() == before
    _screenshot(page, "next_read")  # the list's panel folded: the recommendations come first
    first = page.locator(f".st-key-next_card_{cards.first.get_attribute('data-book-id')}")
    first.get_by_role("button", name="Want to read").click()
    expect(page).to_have_url(re.compile(r"want="))
    _settled(page)
    page.get_by_role("button", name="I liked this").first.click()
    page.get_by_role("dialog").get_by_role("radio", name="4★").click()
    expect(page).to_have_url(re.compile(r"liked=2(:|%3A)5(,|%2C)7(,|%2C)\d+(:|%3A)4"))


def test_on_a_phone_the_recommendations_come_first(browser: Any, server: str) -> None:
    from playwright.sync_api import expect

    phone = {"width": 390, "height": 844}
    context = browser.new_context(viewport=phone, base_url=server, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto("/next_read?liked=2:5,7,1:4,10")
        first = page.locator('[data-scope="next"]').first
        expect(first).to_be_visible()
        _settled(page)
        assert first.bounding_box()["y"] < phone["height"]  # the first recommendation is on the first screen
        assert page.evaluate("document.documentElement.scrollWidth") <= phone["width"]  # no sideways scroll
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "next_read_phone.png"))
        page.goto("/?book=1")
        expect(page.locator('[data-scope="similar"]')).to_have_count(12)
        _settled(page)
        page.screenshot(path=str(SCREENSHOTS / "similar_phone.png"))
    finally:
        context.close()


def test_hostile_links_show_as_text(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/?book=[Your session expired](https://evil.example/login)")
    alert = page.get_by_role("alert").filter(has_text="does not know")
    expect(alert).to_contain_text("[Your session expired](https:")
    page.goto("/next_read?liked=2:5,![x](https://evil.example/x.png),$\\huge{BIG}$,:material/home:")
    expect(page.get_by_text("Left out of your lists")).to_be_visible()
    warning = page.get_by_role("alert").filter(has_text="Left out").inner_text().replace("\u2060", "")
    assert "![x](https://evil.example/x.png)" in warning and "$\\huge{BIG}$" in warning
    assert ":material/home:" in warning
    assert page.locator('a[href*="evil"], img[src*="evil"], .katex').count() == 0


def test_explore_the_map_of_books(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/explore")
    expect(page.get_by_text("Loved beyond taste")).to_be_visible()
    page.get_by_text("Map of books").click()
    points = page.locator(".stPlotlyChart .scatterlayer .point")
    expect(points).to_have_count(332)
    spot = points.nth(0).bounding_box()
    page.mouse.move(spot["x"] + spot["width"] / 2, spot["y"] + spot["height"] / 2)
    expect(page.locator(".stPlotlyChart .hovertext")).to_have_count(1)
    expect(page.locator(".stPlotlyChart .hovertext")).to_contain_text(re.compile(r"\w"))
    _screenshot(page, "explore")


def test_about_this_model(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/about")
    expect(page.get_by_text("Validation RMSE")).to_be_visible()
    expect(page.locator(".stPlotlyChart .scatterlayer .trace")).to_have_count(2)  # training, validation
    _screenshot(page, "about", height=1800)  # down to the learning curve
