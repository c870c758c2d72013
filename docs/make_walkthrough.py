"""Write docs/walkthrough.md: the blog's story told with bookrec's Python API, with the output it printed.

Every code block of the page is kept below as a string. They run in order in one namespace, as the cells of
a notebook would, each with its standard output captured and written under it, so the page shows exactly
what the code printed. The page and its map (docs/walkthrough-map.png) are written atomically at the end;
a block that fails stops the script and leaves the old page in place.

The ratings are SYNTHETIC: goodbooks-10k's ratings cannot be downloaded on the machines this page is made
on, so the first block draws goodbooks-shaped ratings (the real release's size) from bookrec's planted
model, for the real 10,000 books of goodbooks-10k's books.csv. The data, the model folder and bookrec's
cache live in a temporary folder that is removed at the end.

    .venv/bin/python docs/make_walkthrough.py [--books PATH/books.csv]

Without --books it uses the team's copy (../shared/data/goodbooks/books.csv) or the one `bookrec download`
unpacked. Well under a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
PAGE = DOCS / "walkthrough.md"
MAP = DOCS / "walkthrough-map.png"
SHARED_BOOKS = DOCS.parents[1] / "shared" / "data" / "goodbooks" / "books.csv"
COMMAND = ".venv/bin/python docs/make_walkthrough.py"


@dataclass(frozen=True)
class Code:
    """A code block: shown on the page, run, and followed by what it printed."""

    source: str


@dataclass(frozen=True)
class Text:
    """Markdown; a callable gets the namespace of the blocks run so far (to quote what they computed)."""

    body: str | Callable[[dict[str, Any]], str]


def _block(source: str) -> Code:
    return Code(textwrap.dedent(source).strip("\n"))


def _text(body: str) -> Text:
    return Text(textwrap.dedent(body).strip("\n"))


# --- the page ------------------------------------------------------------------------------------------


def _fill(text: str) -> str:
    """Wrap each paragraph of generated prose at the project's line length."""
    return "\n\n".join(textwrap.fill(" ".join(p.split()), 110) for p in text.split("\n\n"))


def _intro(ns: dict[str, Any]) -> str:
    import bookrec

    return textwrap.dedent(
        f"""\
        # Walkthrough: the blog's story with bookrec's Python API

        > **Every number, list and picture on this page comes from SYNTHETIC ratings.** The real
        > goodbooks-10k ratings cannot be downloaded on the machine that made this page, so the first block
        > draws goodbooks-shaped ratings from bookrec's generator: the real release's size (5,976,479
        > ratings by 53,424 readers) for the **real 10,000 books** of goodbooks-10k's `books.csv` (real
        > titles, authors, years and Goodreads averages), but every rating comes from a planted model, not
        > from a reader. In that model each author belongs to one of 24 "taste clusters" **drawn at
        > random**: books by one author or in one series belong together, while the other books of a
        > cluster are an arbitrary mix. *Beyond the same author or series, the neighbours and
        > recommendations below say nothing about real readers*, and on the real goodbooks-10k every figure
        > here will differ.
        >
        > This file is generated, well under a minute on 2 CPU cores (bookrec {bookrec.__version__}):
        >
        > ```
        > {COMMAND}
        > ```
        >
        > runs each block below and writes what it printed. For the same story on the real data, run
        > `bookrec download` and replace the first block with `data = bookrec.load_dataset()`.

        The blog trained two fastai models on goodbooks-10k, a dot product of reader and book vectors with
        biases and a small neural network, then read the book biases (its "generally good" and "generally
        bad" books), drew a map of books from their vectors and looked up similar books. Here is the same
        story with bookrec, followed by recommendations for a new reader, with reasons."""
    )


def _training_note(ns: dict[str, Any]) -> str:
    result = ns["result"]
    epoch = sorted(row.seconds for row in result.history)[len(result.history) // 2]
    return _fill(
        f"""
        Measured here, on the synthetic data and 2 CPU cores: the `train` call took
        {result.metrics["seconds"]:.1f} s, {epoch:.2f} s per epoch (median), and reached a validation MSE of
        {result.metrics["valid_mse"]:.3f} on the 20% held out.

        For comparison only: the blog reported about **24 minutes per epoch on a GPU**, and about **2.5
        hours to reach a validation MSE of 0.716**, on the real ratings. The times compare the work of an
        epoch on data of the same size and shape. The MSEs do not compare at all: these ratings are
        synthetic, and bookrec's MSE on the real ratings has not been measured here.
        """
    )


PAGE_PARTS: list[Code | Text] = [
    Text(_intro),
    _text(
        """
        ## The data

        `BOOKS_CSV` is the path of goodbooks-10k's `books.csv` (the script finds it).
        """
    ),
    _block(
        """
        import bookrec
        from bookrec.data.synth import generate_goodbooks

        # SYNTHETIC ratings, the real release's size, for the real books.
        # On the real data, this and the next line are: data = bookrec.load_dataset()
        generate_goodbooks("goodbooks-synthetic", books_csv=BOOKS_CSV, seed=0)
        data = bookrec.load_dataset("goodbooks-synthetic")

        info = data.summary()
        print(f"{info['ratings']:,} ratings by {info['users']:,} readers of {info['books']:,} books")
        print(f"synthetic: {info['synthetic']}; stars: {info['histogram']}; mean {info['rating_mean']:.2f}")
        print(data.books_table[["book_id", "title", "authors", "year", "n_ratings"]].head().to_string())
        """
    ),
    _text(
        """
        Books are keyed by `book_id`, never by title, so all 10,000 books stay apart (the blog keyed them by
        title, which merged some and left 9,269).

        ## Training the dot-product model

        `TrainConfig()` holds bookrec's measured defaults for the dot model: a vector and a bias for every
        reader and every book, their dot product plus the biases squashed into the output range.
        """
    ),
    _block(
        """
        from bookrec.train import TrainConfig, train

        result = train(data, TrainConfig(), progress=False)
        config = result.config
        print(f"{config.model} model, {config.n_factors} factors, {config.epochs} epochs, lr {config.lr}, "
              f"wd {config.wd}, output range {result.y_range}, {config.valid_pct:.0%} held out")
        print("epoch  train_loss  valid_loss  valid_rmse  seconds")
        for row in result.history:
            print(
                f"{row.epoch:>5}  {row.train_loss:>10.4f}  {row.valid_loss:>10.4f}  "
                f"{row.valid_rmse:>10.4f}  {row.seconds:>7.2f}"
            )
        metrics = result.metrics
        print(f"valid MSE {metrics['valid_mse']:.4f}, RMSE {metrics['valid_rmse']:.4f}")
        print(f"{metrics['n_train']:,} training and {metrics['n_valid']:,} validation ratings")

        result.save("models/walkthrough")
        rec = bookrec.Recommender.load("models/walkthrough")
        """
    ),
    Text(_training_note),
    _text(
        """
        The rest of the page asks the saved model questions. A small helper prints the answers, which are
        `BookResult`s (title, authors, year, score, the Goodreads average, and `because` for
        recommendations):
        """
    ),
    _block(
        """
        def show(results, score="score"):
            for rank, book in enumerate(results, start=1):
                authors = ", ".join(name.strip() for name in book.authors.split(",")[:2])
                year = "" if book.year is None else f", {book.year}"
                average = "" if book.average_rating is None else f"  [Goodreads {book.average_rating:.2f}]"
                print(f"{rank:>2}. {score} {book.score:6.3f}  {book.title} ({authors}{year}){average}")
                if book.because:
                    print(f"      because: {' | '.join(book.because)}")
        """
    ),
    _text(
        """
        ## Books liked and disliked beyond taste

        A book's bias is what the model adds to every reader's score for it, whatever their taste. The
        lowest are the blog's "generally bad" books, the highest its "generally good" ones; `min_ratings`
        leaves out books with too few ratings to trust.
        """
    ),
    _block(
        """
        show(rec.biases("lowest", k=8, min_ratings=1000), score="bias")
        print()
        show(rec.biases("highest", k=8, min_ratings=1000), score="bias")
        """
    ),
    _text(
        """
        The generator draws each book's planted bias from its real Goodreads average, so on this data low
        biases go with low Goodreads averages (the bracketed figure is Goodreads' own, not computed from
        these ratings).

        ## A map of books

        As in the blog: a principal component analysis of the book vectors of the 1,000 most-rated books,
        the books at both ends of the first two components, and the map itself.
        """
    ),
    _block(
        """
        from bookrec.plots import plot_book_map

        frame = rec.book_map(n_books=1000)
        print("share of variance:", ", ".join(f"{v:.1%}" for v in frame.attrs["explained_variance"]))
        for component in ("pc1", "pc2"):
            ends = frame.sort_values(component)
            short = ends["title"].str.split(" (", regex=False).str[0]  # without the series note
            print(f"{component} low: ", " | ".join(short.head(4)))
            print(f"{component} high:", " | ".join(short.tail(4)))
        plot_book_map(frame, "walkthrough-map.png")
        """
    ),
    _text(
        """
        ![Map of books: the first two principal components of the learned book vectors of the 1,000
        most-rated books, from SYNTHETIC ratings](walkthrough-map.png)

        On this data the directions of the map separate the generator's random taste clusters, not genres:
        read it as a picture of the method, not of books.

        ## Similar books

        Cosine similarity of book vectors; a title is found whatever its case, punctuation or series note.
        """
    ),
    _block(
        """
        neighbours = {}
        for title in ["The Da Vinci Code", "The Hobbit", "Pride and Prejudice"]:
            book = rec.book(title)
            neighbours[title] = (book, rec.similar(title, k=8))
            print(f"Similar to {book.title} ({book.authors}):")
            show(neighbours[title][1], score="cosine")
            print()
        """
    ),
    _text(
        """
        Do these lists make sense? Only as far as this data allows. The generator shelved every book under
        its planted taste cluster (`taste-cluster-07`) in `book_tags.csv`, so the answers can be checked
        against the structure the ratings were drawn from:
        """
    ),
    _block(
        """
        import pandas as pd

        folder = "goodbooks-synthetic/"
        shelves = pd.read_csv(folder + "book_tags.csv").merge(pd.read_csv(folder + "tags.csv"), on="tag_id")
        shelves = shelves[shelves["tag_name"].str.startswith("taste-cluster")]
        ids = pd.read_csv(folder + "books.csv", usecols=["book_id", "goodreads_book_id"])
        cluster = dict(shelves.merge(ids, on="goodreads_book_id")[["book_id", "tag_name"]].values)

        def first_author(book):
            return book.authors.split(",")[0].strip()

        for book, results in neighbours.values():
            author = sum(first_author(r) == first_author(book) for r in results)
            taste = sum(cluster[r.book_id] == cluster[book.book_id] for r in results)
            print(f"{book.title}: {author} of {len(results)} by {first_author(book)}, {taste} in its cluster")

        popular = data.books_table.nlargest(300, "n_ratings")["book_id"]
        lists = {book_id: rec.similar(book_id, k=10) for book_id in popular}
        author = sum(first_author(r) == first_author(rec.book(b)) for b, rs in lists.items() for r in rs)
        taste = sum(cluster[r.book_id] == cluster[b] for b, rs in lists.items() for r in rs)
        chance = 1 / len(set(cluster.values()))
        print(f"10 neighbours of each of the 300 most-rated books: {author / 3000:.0%} by the same")
        print(f"first author, {taste / 3000:.0%} in the same taste cluster (by chance: {chance:.0%})")
        """
    ),
    _text(
        """
        The model finds the planted structure: most neighbours share the book's taste cluster, and many
        share its author. Because the clusters group authors at random, a neighbour from the book's cluster
        by another author looks unrelated to a reader (Tolkien beside Michael Connelly), which is the
        generator's doing, not a literary judgement. On real ratings, neighbours come from what real readers
        read and liked together.

        ## A new reader's next read

        A reader the model has never seen names a few books. `recommend_for` fits their vector and bias
        against the fixed book vectors (no retraining) and ranks the books they have not named. Without
        stars, a book counts as liked:
        """
    ),
    _block(
        """
        fantasy_liked = ["The Hobbit", "The Fellowship of the Ring", "A Game of Thrones"]
        fantasy_liked += ["The Name of the Wind"]
        fantasy = rec.recommend_for(fantasy_liked, k=8)
        show(fantasy, score="stars")
        """
    ),
    _text(
        """
        With stars (1-5), dislikes count too; here only books with at least 1,000 ratings are recommended:
        """
    ),
    _block(
        """
        stars = {"Pride and Prejudice": 5, "Jane Eyre": 5, "Little Women": 4}
        stars |= {"Twilight": 1, "Fifty Shades of Grey": 1}
        classics = rec.recommend_for(stars, k=8, min_ratings=1000)
        show(classics, score="stars")
        """
    ),
    _text(
        """
        Each `because` names the two named books that pushed the book's score up the most. That can be a
        book the reader disliked, as Twilight or Fifty Shades of Grey may be above: its low stars turned
        the reader away from books like it, which raised the scores of books unlike it.

        How personal are these lists? Two checks: how many of the recommended books are among the 100
        books every reader is predicted to like most (the highest biases), and how many share a planted
        taste cluster with a book the reader liked:
        """
    ),
    _block(
        """
        best_liked = {book.book_id for book in rec.biases("highest", k=100)}
        classics_liked = [title for title, given in stars.items() if given >= 4]
        for results, liked in ((fantasy, fantasy_liked), (classics, classics_liked)):
            liked_clusters = {cluster[rec.book(title).book_id] for title in liked}
            top = sum(r.book_id in best_liked for r in results)
            near = sum(cluster[r.book_id] in liked_clusters for r in results)
            print(f"{liked[0]} and more: {top} of {len(results)} among the 100 highest biases, "
                  f"{near} in a liked book's cluster")
        """
    ),
    _text(
        """
        The same checks over 100 new readers who each name 5 books drawn at random from the 2,000 most rated,
        and, for contrast, over 100 readers the model was trained on:
        """
    ),
    _block(
        """
        from collections import Counter

        import numpy as np

        rng = np.random.default_rng(0)
        popular = data.books_table.nlargest(2000, "n_ratings")["book_id"].to_numpy()
        sizes = Counter(cluster.values())
        top = near = chance = 0
        for _ in range(100):
            liked = rng.choice(popular, size=5, replace=False).tolist()
            liked_clusters = {cluster[book_id] for book_id in liked}
            results = rec.recommend_for(liked, k=10)
            top += sum(r.book_id in best_liked for r in results)
            near += sum(cluster[r.book_id] in liked_clusters for r in results)
            chance += sum(sizes[c] for c in liked_clusters) / len(cluster) * len(results)
        print(f"new readers: {top / 1000:.0%} of recommendations among the 100 highest biases, "
              f"{near / 1000:.0%} in a liked book's cluster (by chance: {chance / 1000:.0%})")
        readers = rng.choice(rec.users.ids, size=100, replace=False)
        top = sum(r.book_id in best_liked for user_id in readers for r in rec.recommend(user_id, k=10))
        print(f"known readers: {top / 1000:.0%} of recommendations among the 100 highest biases")
        """
    ),
    _text(
        """
        A new reader's vector is fitted to a handful of ratings, so it is short next to a trained reader's,
        and the book biases weigh more in the ranking than the reader's taste: where the first figure is
        high and the second near chance, the lists say more about what nearly every reader likes than about
        this reader.

        ## A reader the model knows

        For a reader in the training data, the ranking uses their trained vector and leaves out every book
        they rated; `because` names their highly rated books closest to each recommendation.
        """
    ),
    _block(
        """
        show(rec.recommend(user_id=42, k=5), score="stars")
        """
    ),
    _text(
        """
        ## Not on this page

        The blog's second model, the neural network (`TrainConfig(model="nn")`, or `bookrec train --model
        nn`), is left out to keep this page quick to regenerate: an epoch of it on these 6 million ratings
        takes about 20 s on 2 CPU cores (`benchmarks/bench_train.py`), and every question above is asked of
        it the same way. The command line (`bookrec similar`, `bookrec recommend`, `bookrec explore`) and
        the web app (`bookrec app`) answer the same questions from the same model folder.
        """
    ),
]


# --- running it ----------------------------------------------------------------------------------------


def find_books_csv(given: Path | None) -> Path:
    """The books.csv to draw the synthetic data for: the one given, the team's copy, or the downloaded one."""
    from bookrec.data.paths import goodbooks_dir

    candidates = [given] if given is not None else [SHARED_BOOKS, goodbooks_dir() / "books.csv"]
    for path in candidates:
        if path is not None and path.is_file():
            return path
    raise SystemExit(
        "make_walkthrough needs goodbooks-10k's books.csv (real titles for the synthetic ratings): "
        "run `bookrec download`, or pass --books PATH"
    )


def render(parts: list[Code | Text], namespace: dict[str, Any]) -> str:
    """Run the code blocks in order in ``namespace`` and return the page: text, code, captured output."""
    chunks = []
    for index, part in enumerate(parts):
        if isinstance(part, Text):
            chunks.append(part.body(namespace) if callable(part.body) else part.body)
            continue
        captured = io.StringIO()
        # Running the page's own code is the point: the output shown is what this exact code printed.
        with contextlib.redirect_stdout(captured):
            exec(compile(part.source, f"<walkthrough block {index}>", "exec"), namespace)
        chunks.append(f"```python\n{part.source}\n```")
        output = captured.getvalue().rstrip()
        if output:
            chunks.append(f"```text\n{output}\n```")
    chunks.append(f"*Generated by `{COMMAND}` from SYNTHETIC ratings; do not edit by hand.*")
    return "\n\n".join(chunks) + "\n"


def _replace(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target`` atomically (a temporary file beside it, then a rename)."""
    handle, staging = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        shutil.copyfile(source, staging)
        os.chmod(staging, 0o666 & ~umask)  # mkstemp makes 0600; a page in the repository is for everyone
        os.replace(staging, target)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--books", type=Path, help="goodbooks-10k's books.csv (real titles).")
    args = parser.parse_args()
    books_csv = find_books_csv(args.books).resolve()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bookrec-walkthrough-") as work:
        os.environ["BOOKREC_HOME"] = str(Path(work) / "home")  # a fresh cache; nothing left behind
        os.chdir(work)  # the blocks write their data, model and map here
        page = render(PAGE_PARTS, {"__name__": "__walkthrough__", "BOOKS_CSV": books_csv})
        Path("walkthrough.md").write_text(page, encoding="utf-8")
        _replace(Path("walkthrough-map.png"), MAP)
        _replace(Path("walkthrough.md"), PAGE)
        os.chdir(DOCS)
    print(f"wrote {PAGE} and {MAP.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
