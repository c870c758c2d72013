"""The spark engine: the rating and ranking models fitted by Spark MLlib's ALS, on one machine or many.

``bookrec train --engine spark [--spark-master URL]`` (or ``train(..., config.engine="spark")``) hands the
fitting to Spark and writes the same model folder as the other engines; serving never sees Spark.

**The rating model** is the dot model, ``r_hat = lo + (hi - lo) * sigmoid(s)`` with the linear score
``s = p_u · q_b + a_u + c_b``. MLlib's explicit ALS fits a plain product ``x_u · y_b`` by least squares, so
the fit runs on the *linked* ratings ``z = logit((r - lo) / (hi - lo))``, where the dot model's score lives:

1. the biases, as damped means in ``BIAS_PASSES`` alternating passes of Spark aggregations:
   ``mu = mean(z)``, ``c_b = sum(z - mu - a_u) / (n_b + BIAS_DAMPING)``, ``a_u`` likewise;
2. MLlib ALS (rank ``n_factors``, ``epochs`` sweeps, ``regParam = wd``) on the residuals
   ``z - mu - a_u - c_b``;
3. the factors and biases gathered to the driver as the dot model's tables (``mu`` folded into the reader
   biases);
4. ``REFINE_SWEEPS`` Gauss-Newton sweeps of the dot model's own loss, squared error in stars, on the driver
   with numpy: each reader's (vector, bias) solved given the books', then each book's given the readers'
   (one small linear system per reader or book, ``n_factors + 1`` wide), the factors held to the same
   ALS-WR ridge (``wd`` x the reader's or book's ratings).

Step 4 is there because the fit in the score's space is not the dot model's fit: squared error on ``z``
weighs a rating near either end of the scale far more than one in the middle (the logit stretches them),
so the fit bends towards the noisiest ratings. On planted test data the logit fit alone missed the sgd
engine by 0.024 RMSE with readers choosing books at random, and by 0.12 with readers choosing books they
like (most ratings near the top); with the refinement by 0.013 and 0.010. MLlib's explicit ALS cannot take
a weight per rating, which the Gauss-Newton step needs, so the step runs where the ratings already are:
the driver gathers every rating for the model folder anyway (below). Its cost is linear in the ratings
(``n_ratings x (n_factors + 1)^2`` a sweep); its memory, the ratings sorted by reader and by book (24 bytes
a rating) and a block of ``_REFINE_ROWS`` ratings at a time.

The folder then serves the refined tables. Readers or books with no training rating keep zero factors and
biases, as MLlib leaves them unfitted.

**The ranking model** is MLlib's implicit ALS (Hu, Koren and Volinsky's, as :mod:`bookrec.models.als`) on
every read, written as the ``AlsHead`` so that folding in a new reader works as for the default fit. Two
conversions, both forced by MLlib's parametrisation:

- confidence: MLlib weighs a read ``1 + alpha * r``; bookrec's ``confidence(rating)`` is ``c`` itself, so
  the rating column carries ``c - 1`` with ``alpha = 1``. MLlib cannot weigh a read below an unread book
  (``c < 1``: bookrec's 1-3 star reads), so those become ``c = 1`` (a read, weighed as an unread book).
- regularization: MLlib scales ``regParam`` by each reader's (and book's) number of reads ("ALS-WR"),
  bookrec's strength is one number for all. ``regParam = rank_regularization / sqrt(reads per reader x reads
  per book)`` (means) gives a reader of average activity about bookrec's strength and a book of average
  popularity the same; folding in keeps bookrec's strength.

The driver gathers the factors and, as every model folder stores each reader's ratings, the ratings: ~12
bytes a rating (72 MB for goodbooks' 6 million). Local data come through bookrec's loader (titles, wanted
books, the very split of the other engines); ``read_ratings`` lets Spark read any path it can (HDFS, S3 with
the user's own Spark configuration).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
import warnings
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from bookrec.config import TrainConfig
from bookrec.data.dataset import Dataset
from bookrec.data.split import random_split
from bookrec.errors import ConfigError, DataError
from bookrec.models.als import AlsHead, confidence
from bookrec.models.base import default_y_range
from bookrec.trained import Callback, EpochStats, ProgressCallback, TrainProgress, TrainResult

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "INSTALL_JAVA",
    "INSTALL_PYSPARK",
    "check_available",
    "read_ratings",
    "spark_session",
    "train_spark",
]

INSTALL_PYSPARK = "pip install 'bookrec[spark]'"
INSTALL_JAVA = "apt-get install openjdk-17-jre-headless"
BIAS_DAMPING = 5.0
"""Damping of the bias means: a book with n ratings gets n / (n + 5) of its mean residual (Koren's damped
means); on full-size synthetic goodbooks 1 to 25 changed the validation RMSE by under 0.001."""
BIAS_PASSES = 2
"""Alternating passes of book then reader biases; a third changed the validation RMSE by under 0.0005."""
ROUNDS = 1
"""Rounds of (biases, ALS) in Spark. A second round refits the biases beside the first round's factors
(planted test data, rank 8: 0.327 -> 0.305 before the refinement), but after 5 refinement sweeps the two
are alike (0.296 and 0.296; taste-driven reads 0.349 and 0.347), and a round is a second MLlib fit."""
REFINE_SWEEPS = 8
"""Gauss-Newton sweeps on the driver of the dot model's own loss (module docstring). Planted test data, rank
8, validation RMSE after 0/1/2/3/5 sweeps: 0.327 0.298 0.296 0.296 0.296; with taste-driven reads (the
logit fit is far off there, most ratings near the top): 0.475 0.405 0.373 0.359 0.349; after 8: 0.296 and
0.345. The sgd engine: 0.283 and 0.335. A sweep of 480,000 ratings took 0.2 s."""
_REFINE_ROWS = 1 << 16
_EDGE = 0.01
"""How far inside (lo, hi) a rating is kept before its logit is taken (a y_range narrower than the data):
a linked rating stays within +-4.6."""
_LOCAL_SHUFFLE_PARTITIONS = 8
_RANK_ON_ALL = "all ratings"  # the value of bookrec.train.RANK_ON_ALL (tests/test_spark.py checks they agree)


def _import_pyspark() -> Any:
    """pyspark, or a ConfigError saying how to install it."""
    try:
        with warnings.catch_warnings():
            # pyspark warns at import that it does not yet support pandas 3; bookrec passes it Arrow tables.
            warnings.filterwarnings("ignore", message=".*pandas", category=FutureWarning)
            import pyspark
            import pyspark.sql
    except ImportError:
        raise ConfigError(f"the spark engine needs pyspark: {INSTALL_PYSPARK}") from None
    return pyspark


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def check_available() -> None:
    """Check that pyspark and Java are here, before any data are loaded.

    Raises:
        ConfigError: pyspark or Java is missing (the line says how to install it).
    """
    _import_pyspark()
    # Under spark-submit the JVM already runs and hands its port to Python: no java needed on the PATH.
    if "PYSPARK_GATEWAY_PORT" not in os.environ and _java() is None:
        raise ConfigError(
            f"the spark engine needs Java 17 or newer: install it ({INSTALL_JAVA} on Debian or Ubuntu) "
            "or set JAVA_HOME"
        )


@contextlib.contextmanager
def spark_session(master: str | None = None) -> Iterator[SparkSession]:
    """The active Spark session, or a new one (stopped on leaving) on ``master``.

    Args:
        master: A Spark master URL ("local[2]", "spark://host:7077", "yarn", ...); None: what spark-submit
            or the Spark configuration says, else every local core.

    Raises:
        ConfigError: pyspark or Java is missing, or Spark does not start.
    """
    check_available()
    from pyspark.sql import SparkSession

    with warnings.catch_warnings():
        # pyspark warns, as its modules load, that it does not yet support pandas 3: bookrec hands it Arrow.
        warnings.filterwarnings("ignore", message=".*pandas", category=FutureWarning)
        active = SparkSession.getActiveSession()
        if active is not None:
            yield active
            return
        with _new_session(master) as session:
            yield session


@contextlib.contextmanager
def _new_session(master: str | None) -> Iterator[SparkSession]:
    from pyspark.sql import SparkSession

    submitted = "PYSPARK_GATEWAY_PORT" in os.environ or bool(os.environ.get("MASTER"))
    master = master or (None if submitted else "local[*]")
    builder = SparkSession.builder.appName("bookrec").config("spark.ui.showConsoleProgress", "false")
    if master:
        builder = builder.master(master)
    if master and master.startswith("local"):
        # Spark's 200 shuffle partitions suit a cluster; on one machine the bias aggregations would spend
        # most of their time on near-empty tasks (planted test data: 36 s -> 12 s a fit in local[2]).
        builder = builder.config("spark.sql.shuffle.partitions", str(_LOCAL_SHUFFLE_PARTITIONS))
    local = bool(master and master.startswith("local"))
    if local and "driver-memory" not in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        # Spark's 1 GB driver heap runs out at 24M ratings in local mode (Java heap space): there the driver
        # is the whole engine, so give it half of the memory available, unless the user set it.
        builder = builder.config("spark.driver.memory", _local_driver_memory())
    try:
        with _one_blas_thread() if local else contextlib.nullcontext():
            session = builder.getOrCreate()
    except Exception as error:  # pyspark raises its own error classes, and py4j's, when the JVM fails
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"Spark did not start on {master or 'its configured master'}: {first}") from None
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


def _local_driver_memory() -> str:
    """Half of the memory available now (at least 1 GB), as Spark writes sizes: "6g"."""
    from bookrec.ranking_fit import available_memory

    available = available_memory() or 2 * 2**30
    return f"{max(1, available // 2 // 2**30)}g"


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """``OPENBLAS_NUM_THREADS=1`` (unless set) in the environment a local JVM starts with, then as before.

    Where the JVM loads OpenBLAS (Debian's libopenblas0), each of Spark's task threads calling it spawned a
    thread per core: the ranking model's fit at 600,000 ratings (rank 128, local[2], busy 2-core machine)
    took 128 s, and 42 s with one BLAS thread (105 s on Java's VectorBLAS). On a cluster Spark sets the
    executors' OMP_NUM_THREADS itself (SPARK-41188); in local mode the driver's JVM is the executor.
    """
    if "OPENBLAS_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # read once, as pyspark copies the environment for the JVM
    try:
        yield
    finally:
        os.environ.pop("OPENBLAS_NUM_THREADS", None)


# --- data ---------------------------------------------------------------------------------------------------


def read_ratings(
    uri: str,
    *,
    user_col: str = "user_id",
    item_col: str = "book_id",
    rating_col: str = "rating",
    sep: str = ",",
    master: str | None = None,
) -> Dataset:
    """Ratings read by Spark from any path it reads (local, ``hdfs://``, ``s3a://`` with the user's Spark
    configuration): CSV with a header, or Parquet (a name ending in ``.parquet``).

    Books get placeholder titles (no books file travels with a remote path); ids that are all whole numbers
    are kept as numbers. The rating scale is the data's own range.

    Raises:
        DataError: The path cannot be read, lacks a column, or holds no usable rating.
        ConfigError: pyspark or Java is missing.
    """
    import pyarrow.compute as pc

    with spark_session(master) as spark:
        try:
            if uri.rstrip("/").endswith(".parquet"):
                frame = spark.read.parquet(uri)
            else:
                frame = spark.read.option("header", True).option("sep", sep).csv(uri)
        except Exception as error:
            raise DataError(f"{uri}: Spark cannot read it ({_first_line(error)})") from None
        missing = [c for c in (user_col, item_col, rating_col) if c not in frame.columns]
        if missing:
            raise DataError(
                f"{uri}: no column {missing[0]!r} (columns: {', '.join(frame.columns)}); "
                "name them with --user-col, --item-col and --rating-col"
            )
        table = frame.selectExpr(
            f"CAST(`{user_col}` AS STRING) AS u",
            f"CAST(`{item_col}` AS STRING) AS b",
            f"CAST(`{rating_col}` AS DOUBLE) AS r",
        ).toArrow()
    valid = pc.and_(pc.is_valid(table["u"]), pc.and_(pc.is_valid(table["b"]), pc.is_finite(table["r"])))
    table = table.filter(pc.fill_null(valid, False))
    if table.num_rows == 0:
        raise DataError(f"{uri}: no rating with a reader id, a book id and a number")
    return Dataset.from_ratings(
        _ids(table["u"].to_numpy()), _ids(table["b"].to_numpy()), table["r"].to_numpy(), name=uri
    )


def _ids(values: np.ndarray) -> np.ndarray:
    """Whole-number ids as int64, others as the strings they are."""
    try:
        numbers = values.astype(np.int64)
    except (ValueError, OverflowError):
        return values.astype(str)
    return numbers if np.array_equal(numbers.astype(str), values.astype(str)) else values.astype(str)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _frame(spark: SparkSession, columns: dict[str, np.ndarray]) -> DataFrame:
    """A Spark DataFrame from numpy columns, through Arrow (no pandas, no Python rows)."""
    import pyarrow as pa

    return spark.createDataFrame(pa.table(columns))


# --- training -----------------------------------------------------------------------------------------------


def train_spark(
    dataset: Dataset,
    config: TrainConfig,
    *,
    master: str | None = None,
    callbacks: Iterable[Callback] = (),
    progress: ProgressCallback | bool | None = None,
) -> TrainResult:
    """Fit the rating model (and the ranking model) of ``config`` with Spark MLlib; see the module docstring.

    The split is ``train``'s (``valid_pct`` and ``seed``), so the validation figures compare with the other
    engines'. There are no checkpoints: MLlib's sweeps run inside one Spark job.

    Raises:
        ConfigError: Not the dot model, no ratings to train on, or pyspark or Java missing.
    """
    started = time.perf_counter()
    if config.engine != "spark" or config.model != "dot":
        raise ConfigError(f"the spark engine trains the dot model, got {config.model!r} ({config.engine})")
    train_data, valid_data = random_split(dataset, config.valid_pct, config.seed)
    if train_data.n_ratings == 0:
        raise ConfigError(f"no ratings to train on: {dataset.name} has {dataset.n_ratings} ratings")
    y_range = config.y_range or default_y_range(dataset.rating_min, dataset.rating_max)

    def report(done: int, stage: str = "rating") -> None:
        if callable(progress):
            total = config.rank_iterations if stage == "ranking" else 0
            progress(
                TrainProgress(done if stage == "rating" else config.epochs, config.epochs, 0, total, stage)
            )

    with spark_session(master) as spark:
        report(0)
        head = _refine(_fit_rating(spark, train_data, config, y_range), train_data, config)
        seconds = time.perf_counter() - started
        ranked = time.perf_counter()
        report(0, "ranking")
        ranker = None if config.ranker == "none" else _fit_ranker(spark, dataset, config)
        rank_seconds = time.perf_counter() - ranked
        master_used = spark.sparkContext.master
    train_mse, _ = _errors(head, train_data)
    valid_mse, valid_mae = _errors(head, valid_data) if valid_data.n_ratings else (None, None)
    stats = EpochStats(
        epoch=config.epochs,
        epochs=config.epochs,
        train_loss=train_mse,
        valid_loss=valid_mse,
        valid_rmse=None if valid_mse is None else math.sqrt(valid_mse),
        valid_mae=valid_mae,
        seconds=seconds,
        lr=config.lr,
    )
    report(config.epochs)
    for callback in callbacks:
        callback(stats)
    metrics: dict[str, Any] = {
        "valid_mse": valid_mse,
        "valid_rmse": stats.valid_rmse,
        "valid_mae": valid_mae,
        "train_loss": train_mse,
        "seconds": time.perf_counter() - started,
        "epochs": config.epochs,
        "bs": None,
        "n_train": train_data.n_ratings,
        "n_valid": valid_data.n_ratings,
        "rank_seconds": None if ranker is None else rank_seconds,
        "rank_on": None if ranker is None else _RANK_ON_ALL,
        "spark_master": master_used,
    }
    return TrainResult(head, config, (stats,), metrics, train_data, valid_data, y_range, ranker)


def _logit_ratings(
    rating: np.ndarray, scale: tuple[float, float], y_range: tuple[float, float]
) -> np.ndarray:
    """The ratings in the dot model's score space, ``logit((r - lo) / (hi - lo))``, each first clipped to the
    data's scale (a rating beyond it, or at the edge of a narrow y_range, would be a huge score)."""
    lo, hi = y_range
    share = (np.clip(rating.astype(np.float64), *scale) - lo) / (hi - lo)
    share = np.clip(share, _EDGE, 1.0 - _EDGE)
    return np.log(share / (1.0 - share))


def _fit_rating(spark: SparkSession, data: Dataset, config: TrainConfig, y_range: tuple[float, float]) -> Any:
    """Steps 1-3: biases by Spark aggregations, then MLlib ALS on the residuals; the dot model's head."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    from bookrec.models.dot import DotHead

    ratings = _frame(
        spark,
        {
            "u": data.user_idx,
            "b": data.book_idx,
            "z": _logit_ratings(data.rating, data.rating_scale, y_range),
        },
    )
    base = ratings.withColumn("dot", F.lit(0.0)).cache()
    blocks = max(2, spark.sparkContext.defaultParallelism)
    als = ALS(
        rank=config.n_factors,
        maxIter=config.epochs,
        regParam=config.wd,
        userCol="u",
        itemCol="b",
        ratingCol="residual",
        numUserBlocks=blocks,
        numItemBlocks=blocks,
        seed=config.seed % 2**63,
    )
    for _ in range(ROUNDS):
        mu, user_bias, book_bias = _biases(base)
        residuals = (
            base.join(F.broadcast(user_bias), "u")
            .join(F.broadcast(book_bias), "b")
            .select("u", "b", "z", (F.col("z") - mu - F.col("bu") - F.col("bb")).alias("residual"))
        )
        model = als.fit(residuals)
        fitted = model.transform(residuals).select("u", "b", "z", F.col("prediction").alias("dot")).cache()
        base.unpersist()
        base = fitted
    users = _factors(model.userFactors, data.n_users, config.n_factors)
    books = _factors(model.itemFactors, data.n_books, config.n_factors)
    a = _table(user_bias, "u", "bu", data.n_users) + mu
    c = _table(book_bias, "b", "bb", data.n_books)
    base.unpersist()
    return DotHead(users, a.astype(np.float32), books, c.astype(np.float32), y_range)


class _Side:
    """The ratings grouped by one side (readers or books): each owner's ratings contiguous."""

    def __init__(self, own: np.ndarray, other: np.ndarray, rating: np.ndarray, n: int) -> None:
        order = np.argsort(own, kind="stable")
        self.other = other[order]
        self.rating = rating[order].astype(np.float64)
        self.counts = np.bincount(own, minlength=n)
        self.starts = np.concatenate(([0], np.cumsum(self.counts)))


def _refine(head: Any, data: Dataset, config: TrainConfig) -> Any:
    """``REFINE_SWEEPS`` Gauss-Newton sweeps of the dot model's own loss (squared error in stars) from the
    head Spark fitted: readers' (vector, bias) given the books', then the books' given the readers'."""
    from bookrec.models.dot import DotHead

    users = np.hstack((head.user_vectors, head.user_bias[:, None])).astype(np.float64)
    books = np.hstack((head.book_vectors, head.book_bias[:, None])).astype(np.float64)
    by_user = _Side(data.user_idx, data.book_idx, data.rating, data.n_users)
    by_book = _Side(data.book_idx, data.user_idx, data.rating, data.n_books)
    for _ in range(REFINE_SWEEPS):
        users = _gauss_newton(users, books, by_user, config.wd, head.y_range)
        books = _gauss_newton(books, users, by_book, config.wd, head.y_range)
    k = head.n_factors
    return DotHead(
        users[:, :k].astype(np.float32),
        users[:, k].astype(np.float32),
        books[:, :k].astype(np.float32),
        books[:, k].astype(np.float32),
        head.y_range,
    )


def _gauss_newton(
    own: np.ndarray, other: np.ndarray, side: _Side, wd: float, y_range: tuple[float, float]
) -> np.ndarray:
    """One Gauss-Newton step for every owner's (vector, bias) with the other side fixed.

    The score is ``s = own . (other_vector, 1) + other_bias``, the rating ``lo + (hi - lo) sigmoid(s)``; each
    owner solves ``(J'J + R) step = J'e - R' own`` with ``J = g'(s) (other_vector, 1)``, the factors held
    to MLlib's ALS-WR ridge (``wd`` x the owner's ratings) and the bias step damped by ``BIAS_DAMPING``.
    """
    lo, hi = y_range
    n, width = own.shape
    out = own.copy()
    owner = 0
    while owner < n:
        # A block of owners with at most _REFINE_ROWS ratings (or one owner with more).
        limit = side.starts[owner] + _REFINE_ROWS
        end = min(n, max(owner + 1, int(np.searchsorted(side.starts, limit, "right")) - 1))
        rows = slice(side.starts[owner], side.starts[end])
        x = np.hstack((other[side.other[rows], :-1], np.ones((rows.stop - rows.start, 1))))
        ids = np.repeat(np.arange(owner, end), side.counts[owner:end])
        share = 1.0 / (1.0 + np.exp(-((own[ids] * x).sum(1) + other[side.other[rows], -1])))
        slope = (hi - lo) * share * (1.0 - share)
        error = side.rating[rows] - lo - (hi - lo) * share
        jx = x * slope[:, None]
        gram = np.zeros((end - owner, width, width))
        grad = np.zeros((end - owner, width))
        local = side.starts[owner : end + 1] - side.starts[owner]
        for i in np.flatnonzero(side.counts[owner:end]):
            block = jx[local[i] : local[i + 1]]
            gram[i] = block.T @ block
            grad[i] = block.T @ error[local[i] : local[i + 1]]
        # An owner with no rating (a book only in the validation part) keeps its zeros: a ridge of wd.
        ridge = wd * np.maximum(side.counts[owner:end, None], 1).astype(np.float64)
        gram[:, np.arange(width - 1), np.arange(width - 1)] += ridge
        gram[:, -1, -1] += BIAS_DAMPING
        grad[:, :-1] -= ridge * own[owner:end, :-1]
        out[owner:end] += np.linalg.solve(gram, grad[:, :, None])[:, :, 0]
        owner = end
    return out


def _biases(ratings: DataFrame) -> tuple[float, DataFrame, DataFrame]:
    """``mu`` and the damped-mean reader and book biases of ``z - dot``, in ``BIAS_PASSES`` passes."""
    from pyspark.sql import functions as F

    target = F.col("z") - F.col("dot")
    mu = float(ratings.agg(F.avg(target)).first()[0])
    user_bias = ratings.sparkSession.createDataFrame([], "u INT, bu DOUBLE")
    for _ in range(BIAS_PASSES):
        with_user = ratings.join(F.broadcast(user_bias), "u", "left")
        book_bias = _damped_means(with_user, "b", target - mu - F.coalesce("bu", F.lit(0.0)), "bb")
        with_book = ratings.join(F.broadcast(book_bias), "b", "left")
        user_bias = _damped_means(with_book, "u", target - mu - F.col("bb"), "bu")
    return mu, user_bias, book_bias


def _damped_means(frame: DataFrame, key: str, residual: Any, name: str) -> DataFrame:
    from pyspark.sql import functions as F

    return frame.groupBy(key).agg((F.sum(residual) / (F.count(F.lit(1)) + BIAS_DAMPING)).alias(name)).cache()


def _table(frame: DataFrame, key: str, value: str, n: int) -> np.ndarray:
    """A (position, value) DataFrame gathered as a dense array (0 where a position is absent)."""
    gathered = frame.select(key, value).toArrow()
    out = np.zeros(n, dtype=np.float64)
    out[gathered[key].to_numpy()] = gathered[value].to_numpy()
    return out


def _factors(frame: DataFrame, n: int, rank: int) -> np.ndarray:
    """MLlib's (id, features) factor table gathered as a dense (n, rank) array (zeros where unfitted)."""
    gathered = frame.toArrow()
    out = np.zeros((n, rank), dtype=np.float32)
    ids = gathered["id"].to_numpy()
    if ids.size:
        features = gathered["features"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        out[ids] = features.reshape(ids.size, rank)
    return out


def _errors(head: Any, data: Dataset, chunk: int = 1 << 20) -> tuple[float, float]:
    """Mean squared and absolute error of the served head on ``data``, in stars."""
    squared = absolute = 0.0
    for start in range(0, data.n_ratings, chunk):
        users, books = data.user_idx[start : start + chunk], data.book_idx[start : start + chunk]
        predicted = head.to_rating(head.pair_scores(head.reader_params(users), books))
        error = predicted.astype(np.float64) - data.rating[start : start + chunk]
        squared += float(np.dot(error, error))
        absolute += float(np.abs(error).sum())
    return squared / data.n_ratings, absolute / data.n_ratings


def spark_regularization(config: TrainConfig, data: Dataset) -> float:
    """MLlib's ``regParam`` for bookrec's ranking strength (see the module docstring)."""
    per_reader = data.n_ratings / max(1, data.n_users)
    per_book = data.n_ratings / max(1, data.n_books)
    return config.rank_regularization(data.n_users) / math.sqrt(per_reader * per_book)


def mllib_implicit_ratings(confidences: np.ndarray) -> np.ndarray:
    """The rating column that makes MLlib's implicit weight ``1 + alpha * r`` (alpha 1) bookrec's confidence
    ``c``: ``r = c - 1``, kept a hair above 0, since MLlib takes ``r <= 0`` for a book not read."""
    return np.maximum(confidences.astype(np.float64) - 1.0, 1e-6)


def _fit_ranker(spark: SparkSession, data: Dataset, config: TrainConfig) -> AlsHead:
    """MLlib's implicit ALS on every read (and wanted book), with bookrec's confidences; the ALS head."""
    from pyspark.ml.recommendation import ALS

    users, books = data.user_idx, data.book_idx
    weights = confidence(data.rating, data.rating_scale, config.rank_alpha)
    wanted = None
    if config.rank_to_read > 0 and data.want_user_idx.size:
        users = np.concatenate([users, data.want_user_idx])
        books = np.concatenate([books, data.want_book_idx])
        weights = np.concatenate([weights, np.full(data.want_user_idx.size, config.rank_to_read, np.float32)])
        order = np.argsort(data.want_user_idx, kind="stable")
        counts = np.bincount(data.want_user_idx, minlength=data.n_users)
        wanted = (np.concatenate(([0], np.cumsum(counts))).astype(np.int64), data.want_book_idx[order])
    reads = _frame(spark, {"u": users, "b": books, "c": mllib_implicit_ratings(weights)})
    blocks = max(2, spark.sparkContext.defaultParallelism)
    als = ALS(
        rank=config.rank_factors,
        maxIter=config.rank_iterations,
        regParam=spark_regularization(config, data),
        implicitPrefs=True,
        alpha=1.0,
        userCol="u",
        itemCol="b",
        ratingCol="c",
        numUserBlocks=blocks,
        numItemBlocks=blocks,
        seed=config.seed % 2**63,
    )
    model = als.fit(reads)
    return AlsHead(
        _factors(model.userFactors, data.n_users, config.rank_factors),
        _factors(model.itemFactors, data.n_books, config.rank_factors),
        config.rank_regularization(data.n_users),
        config.rank_alpha,
        wanted,
    )
