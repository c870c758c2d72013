"""``bookrec download`` against a real HTTP server on 127.0.0.1 that serves zips built here.

Nothing fakes the network: every download goes through pooch and requests to a ThreadingHTTPServer in a
thread. Time-outs use ``timeout=1`` and ``retries=0`` so the file stays fast.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import socket
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.data._cache_lock import cache_lock
from bookrec.data.download import (
    GOODBOOKS_SHA256,
    GOODBOOKS_URL,
    download_goodbooks,
    goodbooks_ready,
    unpack_goodbooks_zip,
)
from bookrec.data.paths import bookrec_home, goodbooks_dir
from bookrec.errors import ConfigError, DownloadError

RATINGS = "user_id,book_id,rating\n1,1,5\n1,2,3\n2,1,4\n2,3,2\n3,2,5\n3,3,4\n"
BOOK_COLUMNS = (
    "book_id,goodreads_book_id,best_book_id,work_id,books_count,isbn,isbn13,authors,original_publication_year,"
    "original_title,title,language_code,average_rating,ratings_count,work_ratings_count,"
    "work_text_reviews_count,ratings_1,ratings_2,ratings_3,ratings_4,ratings_5,image_url,small_image_url"
)
BOOKS = (
    BOOK_COLUMNS
    + "\n"
    + "\n".join(
        f'{i},{100 + i},{100 + i},{200 + i},1,{i:09d},{i:013d},"Author {i}",2001.0,Title {i},'
        f"Title {i},eng,4.0,10,10,1,0,1,2,3,4,https://img/{i}.jpg,https://img/{i}s.jpg"
        for i in (1, 2, 3)
    )
    + "\n"
)
TAGS = "tag_id,tag_name\n0,fiction\n"


def _zip(files: dict[str, str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


GOOD_ZIP = _zip({"ratings.csv": RATINGS, "books.csv": BOOKS, "tags.csv": TAGS})
OTHER_ZIP = _zip({"ratings.csv": RATINGS.replace("5\n", "1\n"), "books.csv": BOOKS})
NESTED_ZIP = _zip(
    {
        "goodbooks-10k/samples/ratings.csv": "user_id,book_id,rating\n9,9,1\n",
        "goodbooks-10k/ratings.csv": RATINGS,
        "goodbooks-10k/books.csv": BOOKS,
        "__MACOSX/goodbooks-10k/._ratings.csv": "junk",
    }
)
NO_BOOKS_ZIP = _zip({"ratings.csv": RATINGS})
TRUNCATED_ZIP = GOOD_ZIP[: len(GOOD_ZIP) // 2]


class _Server(http.server.ThreadingHTTPServer):
    """Serves ``files`` by path; /slow.zip never answers, /stall.zip stops mid-body, /flaky.zip 503s once."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = {
            "/goodbooks-10k.zip": GOOD_ZIP,
            "/other.zip": OTHER_ZIP,
            "/nested.zip": NESTED_ZIP,
            "/no-books.zip": NO_BOOKS_ZIP,
            "/truncated.zip": TRUNCATED_ZIP,
        }
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet when a client hangs up on a slow answer, as the time-out tests make them do."""


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        server = self.server
        server.hits[self.path] += 1
        if self.path == "/slow.zip":
            server.release.wait(10)
            return
        if self.path == "/stall.zip":
            self._headers(200, len(GOOD_ZIP))
            self.wfile.write(GOOD_ZIP[:64])
            self.wfile.flush()
            server.release.wait(10)
            return
        if self.path == "/flaky.zip" and server.hits[self.path] == 1:
            self.send_error(503, "Busy")
            return
        body = GOOD_ZIP if self.path == "/flaky.zip" else server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self._headers(200, len(body))
        self.wfile.write(body)

    def _headers(self, status: int, length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean."""


@dataclass
class Site:
    server: _Server

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def hits(self, path: str) -> int:
        return self.server.hits[path]


@pytest.fixture
def site() -> Iterator[Site]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Site(server)
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("BOOKREC_HOME", str(folder))
    return folder


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under ``root``, hidden ones included."""
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


def _download(site: Site, path: str, sha256: str, **kwargs: object) -> Path:
    options: dict[str, object] = {"timeout": 5, "retries": 0, **kwargs}
    return download_goodbooks(site.url(path), sha256, **options)  # type: ignore[arg-type]


# --- the library --------------------------------------------------------------------------------------------


def test_constants_name_the_official_release() -> None:
    assert GOODBOOKS_URL.endswith("/goodbooks-10k/releases/download/v1.0/goodbooks-10k.zip")
    assert len(GOODBOOKS_SHA256) == 64


def test_download_fills_the_cache_and_keeps_the_verified_zip(site: Site, home: Path) -> None:
    folder = _download(site, "/goodbooks-10k.zip", _sha(GOOD_ZIP))
    assert folder == goodbooks_dir() == home / "goodbooks-10k"
    assert goodbooks_ready()
    assert (folder / "ratings.csv").read_text() == RATINGS
    assert (folder / "tags.csv").read_text() == TAGS
    assert (home / "downloads" / "goodbooks-10k.zip").read_bytes() == GOOD_ZIP
    # Nothing else: no temporary file or folder is left in the cache.
    assert sorted(_tree(home)) == [
        "downloads",
        "downloads/goodbooks-10k.zip",
        "goodbooks-10k",
        "goodbooks-10k/books.csv",
        "goodbooks-10k/ratings.csv",
        "goodbooks-10k/tags.csv",
    ]


def test_progress_reports_the_bytes_received_and_draws_nothing(
    site: Site, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[int, int]] = []
    _download(site, "/goodbooks-10k.zip", _sha(GOOD_ZIP), progress=lambda *call: calls.append(call))
    assert calls[-1] == (len(GOOD_ZIP), len(GOOD_ZIP))
    assert all(0 < received <= total == len(GOOD_ZIP) for received, total in calls)
    assert capsys.readouterr() == ("", "")  # the bar is the command line's to draw


def test_present_data_is_not_fetched_again_unless_forced(site: Site, home: Path) -> None:
    sha = _sha(GOOD_ZIP)
    _download(site, "/goodbooks-10k.zip", sha)
    _download(site, "/goodbooks-10k.zip", sha)
    assert site.hits("/goodbooks-10k.zip") == 1
    _download(site, "/goodbooks-10k.zip", sha, force=True)
    assert site.hits("/goodbooks-10k.zip") == 2


def test_a_lost_folder_is_unpacked_again_from_the_kept_zip(site: Site, home: Path) -> None:
    sha = _sha(GOOD_ZIP)
    folder = _download(site, "/goodbooks-10k.zip", sha)
    (folder / "books.csv").unlink()
    _download(site, "/goodbooks-10k.zip", sha)
    assert site.hits("/goodbooks-10k.zip") == 1
    assert (folder / "books.csv").read_text() == BOOKS


def test_a_nested_zip_unpacks_the_folder_of_the_shallowest_ratings(site: Site, home: Path) -> None:
    folder = _download(site, "/nested.zip", _sha(NESTED_ZIP))
    assert (folder / "ratings.csv").read_text() == RATINGS
    assert (folder / "samples" / "ratings.csv").exists()
    assert not (folder / "__MACOSX").exists()


def test_dest_puts_the_data_elsewhere(site: Site, home: Path, tmp_path: Path) -> None:
    folder = _download(site, "/goodbooks-10k.zip", _sha(GOOD_ZIP), dest=tmp_path / "elsewhere")
    assert folder == tmp_path / "elsewhere"
    assert goodbooks_ready(folder)
    assert not goodbooks_ready()


def test_404_names_status_and_url_and_is_not_retried(site: Site, home: Path) -> None:
    with pytest.raises(DownloadError) as caught:
        _download(site, "/missing.zip", _sha(GOOD_ZIP), retries=2)
    message = str(caught.value)
    assert "HTTP 404" in message
    assert site.url("/missing.zip") in message
    assert "\n" not in message
    assert site.hits("/missing.zip") == 1


def test_a_silent_server_times_out(site: Site, home: Path) -> None:
    with pytest.raises(DownloadError, match=r"timed out after 1 s \(1 attempt\)") as caught:
        _download(site, "/slow.zip", _sha(GOOD_ZIP), timeout=1)
    assert site.url("/slow.zip") in str(caught.value)


def test_a_server_that_stalls_mid_file_times_out(site: Site, home: Path) -> None:
    with pytest.raises(DownloadError, match="timed out after 1 s"):
        _download(site, "/stall.zip", _sha(GOOD_ZIP), timeout=1)


def test_a_refused_connection_says_so(home: Path) -> None:
    with socket.socket() as probe:  # a port that nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match=r"cannot connect \(Connection refused"):
        download_goodbooks(f"http://127.0.0.1:{port}/x.zip", _sha(GOOD_ZIP), retries=0)


def test_a_server_error_is_retried(site: Site, home: Path) -> None:
    folder = _download(site, "/flaky.zip", _sha(GOOD_ZIP), retries=1)
    assert site.hits("/flaky.zip") == 2
    assert goodbooks_ready(folder)


def test_checksum_mismatch_names_both_hashes_and_the_override(site: Site, home: Path) -> None:
    expected, actual = _sha(GOOD_ZIP), _sha(OTHER_ZIP)
    with pytest.raises(DownloadError) as caught:
        _download(site, "/other.zip", expected, retries=2)
    assert str(caught.value) == (
        f"checksum mismatch for {site.url('/other.zip')}: expected sha256 {expected}, got {actual}; "
        f"if you trust this file, rerun with --sha256 {actual}"
    )
    assert site.hits("/other.zip") == 1
    # The override works.
    assert goodbooks_ready(_download(site, "/other.zip", f"SHA256:{actual.upper()}"))


def test_a_truncated_zip_is_refused(site: Site, home: Path) -> None:
    with pytest.raises(DownloadError) as caught:
        _download(site, "/truncated.zip", _sha(TRUNCATED_ZIP))
    assert str(caught.value) == (
        f"the file from {site.url('/truncated.zip')} is not a valid zip (truncated or corrupt)"
    )


@pytest.mark.parametrize(
    ("path", "sha_of", "fact"),
    [
        ("/missing.zip", GOOD_ZIP, "HTTP 404"),
        ("/other.zip", GOOD_ZIP, "checksum mismatch"),
        ("/truncated.zip", TRUNCATED_ZIP, "not a valid zip"),
        ("/no-books.zip", NO_BOOKS_ZIP, "no books.csv"),
    ],
)
def test_a_failed_download_keeps_the_last_good_cache(
    site: Site, home: Path, path: str, sha_of: bytes, fact: str
) -> None:
    _download(site, "/goodbooks-10k.zip", _sha(GOOD_ZIP))
    before = _tree(home)
    with pytest.raises(DownloadError, match=fact):
        _download(site, path, _sha(sha_of), force=True)
    assert _tree(home) == before


@pytest.mark.parametrize(
    ("url", "sha256", "options", "field"),
    [
        ("ftp://example.org/g.zip", GOODBOOKS_SHA256, {}, "url"),
        ("goodbooks-10k.zip", GOODBOOKS_SHA256, {}, "url"),
        (GOODBOOKS_URL, "abc123", {}, "sha256"),
        (GOODBOOKS_URL, GOODBOOKS_SHA256, {"timeout": 0}, "timeout"),
        (GOODBOOKS_URL, GOODBOOKS_SHA256, {"retries": -1}, "retries"),
    ],
)
def test_malformed_arguments_are_refused_before_any_download(
    home: Path, url: str, sha256: str, options: dict[str, float], field: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{field} must"):
        download_goodbooks(url, sha256, **options)  # type: ignore[arg-type]
    assert not home.exists()


# --- unpacking a local zip ----------------------------------------------------------------------------------


def _flip_data_byte(data: bytes) -> bytes:
    """Corrupt the first member's bytes (stored, so the CRC-32 catches it) but keep the zip's structure."""
    offset = 30 + len("ratings.csv") + 5  # local header, name, a few bytes into the data
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]


STORED_ZIP = _zip({"ratings.csv": RATINGS, "books.csv": BOOKS}, zipfile.ZIP_STORED)


@pytest.mark.parametrize(
    "data",
    [TRUNCATED_ZIP, GOOD_ZIP[:-10], b"", b"not a zip at all", _flip_data_byte(STORED_ZIP)],
    ids=["half", "tail-cut", "empty", "garbage", "bad-crc"],
)
def test_unpacking_a_corrupt_zip_leaves_the_folder_alone(tmp_path: Path, data: bytes) -> None:
    dest = tmp_path / "data" / "goodbooks-10k"
    unpack_goodbooks_zip(_write(tmp_path / "good.zip", GOOD_ZIP), dest)
    before = _tree(tmp_path / "data")
    bad = _write(tmp_path / "bad.zip", data)
    with pytest.raises(DownloadError, match=r"bad\.zip is not a valid zip \(truncated or corrupt\)$"):
        unpack_goodbooks_zip(bad, dest)
    assert _tree(tmp_path / "data") == before


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"books.csv": BOOKS}, "holds no ratings.csv"),
        ({"data/ratings.csv": RATINGS, "books.csv": BOOKS}, "has no books.csv beside data/ratings.csv"),
        ({"ratings.csv": RATINGS, "books.csv": BOOKS, "../evil.csv": "x"}, "unsafe path '../evil.csv'"),
    ],
)
def test_unpacking_a_zip_that_is_not_goodbooks(tmp_path: Path, files: dict[str, str], message: str) -> None:
    with pytest.raises(DownloadError, match=message):
        unpack_goodbooks_zip(_write(tmp_path / "g.zip", _zip(files)), tmp_path / "out")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["g.zip"]


def test_unpacking_a_missing_zip(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"nope\.zip does not exist"):
        unpack_goodbooks_zip(tmp_path / "nope.zip", tmp_path / "out")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- the command line ---------------------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["download", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_download_then_info_reads_it(site: Site, home: Path) -> None:
    code, out, err = _cli("--url", site.url("/goodbooks-10k.zip"), "--sha256", _sha(GOOD_ZIP))
    assert (code, err) == (0, "")
    assert out == f"goodbooks-10k is ready in {goodbooks_dir()}\n"

    code, out, _ = _cli("--url", site.url("/goodbooks-10k.zip"), "--sha256", _sha(GOOD_ZIP))
    assert code == 0
    assert "already in" in out
    assert site.hits("/goodbooks-10k.zip") == 1

    info = CliRunner().invoke(app, ["info", "--json"])
    assert info.exit_code == 0, info.output
    summary = json.loads(info.stdout)
    assert (summary["users"], summary["books"], summary["ratings"]) == (3, 3, 6)


def test_progress_bar_goes_to_stderr(site: Site, home: Path) -> None:
    code, out, err = _cli("--url", site.url("/goodbooks-10k.zip"), "--sha256", _sha(GOOD_ZIP), "--progress")
    assert code == 0
    assert out == f"goodbooks-10k is ready in {goodbooks_dir()}\n"
    assert "B/s" in err or "100%" in err


@pytest.mark.parametrize(
    ("path", "sha_of", "extra", "facts"),
    [
        ("/missing.zip", GOOD_ZIP, [], ["HTTP 404", "/missing.zip"]),
        ("/slow.zip", GOOD_ZIP, ["--timeout", "1"], ["timed out after 1 s", "/slow.zip"]),
        ("/other.zip", GOOD_ZIP, [], ["checksum mismatch", _sha(GOOD_ZIP), f"--sha256 {_sha(OTHER_ZIP)}"]),
        ("/truncated.zip", TRUNCATED_ZIP, [], ["not a valid zip (truncated or corrupt)"]),
    ],
    ids=["404", "timeout", "mismatch", "truncated"],
)
def test_cli_errors_are_one_line_and_exit_2(
    site: Site, home: Path, path: str, sha_of: bytes, extra: list[str], facts: list[str]
) -> None:
    code, out, err = _cli("--url", site.url(path), "--sha256", _sha(sha_of), "--retries", "0", *extra)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    for fact in facts:
        assert fact in err
    assert not (home / "goodbooks-10k").exists()
    assert list((home / "downloads").iterdir()) == []


def test_cli_force_replaces_the_data(site: Site, home: Path) -> None:
    _download(site, "/goodbooks-10k.zip", _sha(GOOD_ZIP))
    code, out, _ = _cli("--url", site.url("/other.zip"), "--sha256", _sha(OTHER_ZIP), "--force")
    assert code == 0
    assert "ready in" in out
    assert (bookrec_home() / "downloads" / "goodbooks-10k.zip").read_bytes() == OTHER_ZIP


def test_cli_help_teaches_the_options() -> None:
    result = CliRunner().invoke(app, ["download", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for word in ("--url", "--sha256", "--force", "--timeout", "BOOKREC_HOME", "checksum mismatch"):
        assert word in result.stdout


# --- without network: the hint, and installing a local copy ------------------------------------------------


def test_a_failed_download_says_how_to_go_on_offline(home: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = _cli(
        "--url", f"http://127.0.0.1:{port}/x.zip", "--sha256", _sha(GOOD_ZIP), "--retries", "0"
    )
    assert code == 2 and err.count("\n") == 1
    assert "bookrec download --from FILE" in err and "--data FILE" in err and "make run DATA=FILE" in err


def test_download_from_a_local_zip_installs_it_as_a_download_would(tmp_path: Path, home: Path) -> None:
    local = tmp_path / "my copy" / "goodbooks-10k.zip"
    local.parent.mkdir()
    local.write_bytes(GOOD_ZIP)
    code, out, err = _cli("--from", str(local), "--sha256", _sha(GOOD_ZIP))
    assert (code, err) == (0, "")
    assert out.startswith(f"goodbooks-10k is ready in {goodbooks_dir()}")
    assert (home / "downloads" / "goodbooks-10k.zip").read_bytes() == GOOD_ZIP
    assert sorted(_tree(home)) == [
        "downloads",
        "downloads/goodbooks-10k.zip",
        "goodbooks-10k",
        "goodbooks-10k/books.csv",
        "goodbooks-10k/ratings.csv",
        "goodbooks-10k/tags.csv",
    ]
    info = CliRunner().invoke(app, ["info", "--json"])  # later commands need no --data
    assert info.exit_code == 0 and json.loads(info.stdout)["ratings"] == 6


def test_download_from_a_zip_checks_its_hash(tmp_path: Path, home: Path) -> None:
    local = tmp_path / "other.zip"
    local.write_bytes(OTHER_ZIP)
    code, _, err = _cli("--from", str(local))  # the published hash by default
    assert code == 2 and err.count("\n") == 1
    assert f"got {_sha(OTHER_ZIP)}" in err and f"--sha256 {_sha(OTHER_ZIP)}" in err
    assert not (home / "goodbooks-10k").exists()


def test_download_from_a_folder_and_refusals(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "unpacked" / "goodbooks-10k"
    folder.mkdir(parents=True)
    (folder / "ratings.csv").write_text(RATINGS)
    (folder / "books.csv").write_text(BOOKS)
    code, _, err = _cli("--from", str(folder.parent))  # the folder, or the one holding it
    assert (code, err) == (0, "")
    assert (goodbooks_dir() / "ratings.csv").read_text() == RATINGS
    for bad, message in ((tmp_path / "nothing.zip", "no such file or folder"), (tmp_path, "no ratings.csv")):
        code, _, err = _cli("--from", str(bad))
        assert code == 2 and message in err and err.count("\n") == 1


_KILL_AT_SWAP = """
import os, signal, sys
from bookrec import _files
from bookrec.data.install import install_goodbooks
real, calls = os.replace, []
def replace(*args):
    calls.append(args)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # between moving the old copy aside and the new one in
    return real(*args)
_files.os.replace = replace
install_goodbooks(sys.argv[1], None)
"""


def test_a_kill_while_installing_keeps_the_last_good_copy(tmp_path: Path, home: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    first = tmp_path / "first.zip"
    first.write_bytes(GOOD_ZIP)
    unpack_goodbooks_zip(first)
    second = tmp_path / "second.zip"
    second.write_bytes(OTHER_ZIP)
    env = {**os.environ, "BOOKREC_HOME": str(home)}
    killed = subprocess.run([sys.executable, "-c", _KILL_AT_SWAP, str(second)], env=env, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert not goodbooks_ready()  # the kill came between the two renames
    # The next run puts the last good copy back before its own work, and leaves no work folder behind.
    with cache_lock(goodbooks_dir(), home / "downloads"):
        assert (goodbooks_dir() / "ratings.csv").read_text() == RATINGS
    assert [p.name for p in home.iterdir() if p.name.startswith(".")] == []
