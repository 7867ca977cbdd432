"""MovieLens-100K as tidy pandas tables, with one fixed train/valid/test split.

The data may sit on disk in two layouts that hold the same 100,000 ratings:
the original GroupLens files (``u.data``, ``u.item``, ``u.user``) and the
RecBole "atomic" files (``ml-100k.inter``, ``.item``, ``.user``). Both are read
into the same tidy tables, with 0-based ids, sorted canonically, so that the
split (drawn after sorting) does not depend on where the data came from.

``load_movielens()`` finds the data via ``locate_ml100k()``: an explicit folder,
then the local cache, then the GroupLens zip, then the ``recbole==1.2.1`` wheel
on PyPI (which ships the atomic files; it is only downloaded and unzipped,
never installed).
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.console import say
from ..core.store import cache_root

# Genre flag columns of u.item, in file order. "unknown" marks two movies
# with no genre; it is not a genre, so it is left out of ALL_GENRES and of the
# `genres` tuples (those two movies get an empty tuple).
GENRE_COLUMNS = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
ALL_GENRES = GENRE_COLUMNS[1:]
# "Genre 1..8, dense to sparse": ranks 1, 3, 5, ..., 15 by number of ratings.
DEFAULT_GENRES = ("Drama", "Action", "Romance", "Sci-Fi", "Crime", "Horror", "Musical", "Western")

EXPECTED_COUNTS = (100_000, 943, 1_682)  # ratings, users, items
GROUPLENS_FILES = ("u.data", "u.item", "u.user")
RECBOLE_FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
RECBOLE_WHEEL = "recbole==1.2.1"
RECBOLE_PREFIX = "recbole/dataset_example/ml-100k/"


@dataclass(frozen=True)
class MovieLens:
    ratings: pd.DataFrame  # user, item, rating, timestamp, split
    items: pd.DataFrame  # item, title, genres
    users: pd.DataFrame  # user, age, gender, occupation
    source: str  # where the data came from, for the record


# ---------------------------------------------------------------- reading


def _read_table(path: Path, **kw) -> pd.DataFrame:
    # QUOTE_NONE: titles are free text and no field is quoted in either layout;
    # keep_default_na=False: a title or zip such as "NA" must stay a string.
    try:
        return pd.read_csv(path, quoting=csv.QUOTE_NONE, keep_default_na=False, **kw)
    except (ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"{path}: could not parse: {e}") from e


def find_layout(folder) -> str | None:
    """'grouplens' or 'recbole' if `folder` holds all files of that layout, else None."""
    folder = Path(folder)
    for name, files in (("grouplens", GROUPLENS_FILES), ("recbole", RECBOLE_FILES)):
        if all((folder / f).is_file() for f in files):
            return name
    return None


def read_grouplens(folder, split_seed=0, expected_counts=EXPECTED_COUNTS, source=None) -> MovieLens:
    """Read u.data / u.item (latin-1) / u.user from `folder`."""
    folder = Path(folder)
    ratings = _read_table(
        folder / "u.data", sep="\t", header=None, names=["user", "item", "rating", "timestamp"], dtype="int64"
    )
    cols = ["item", "title", "release", "video_release", "imdb", *GENRE_COLUMNS]
    raw = _read_table(folder / "u.item", sep="|", header=None, names=cols, encoding="latin-1", dtype=str)
    flags = raw[list(GENRE_COLUMNS)]
    if not flags.isin(["0", "1"]).all(axis=None):
        raise ValueError(f"{folder / 'u.item'}: genre flags must be 0/1 (expected {len(cols)} '|'-fields)")
    genres = [tuple(g for g in ALL_GENRES if row[g] == "1") for _, row in flags.iterrows()]
    items = pd.DataFrame({"item": raw["item"].astype("int64"), "title": raw["title"], "genres": genres})
    users = _read_table(
        folder / "u.user",
        sep="|",
        header=None,
        names=["user", "age", "gender", "occupation", "zip"],
        dtype={"user": "int64", "age": "int64", "zip": str},
    )
    return _tidy(ratings, items, users, folder, split_seed, expected_counts, source or f"GroupLens files in {folder}")


def read_recbole(folder, split_seed=0, expected_counts=EXPECTED_COUNTS, source=None) -> MovieLens:
    """Read RecBole atomic files ml-100k.inter / .item / .user from `folder`."""
    folder = Path(folder)
    # Headers look like "user_id:token"; drop the ":type" suffix.
    strip = lambda c: {"user_id": "user", "item_id": "item"}.get(c.split(":")[0], c.split(":")[0])
    ratings = _read_table(folder / "ml-100k.inter", sep="\t").rename(columns=strip)
    # Timestamps are declared float but are whole seconds; make sure before casting.
    if not (ratings["timestamp"] == ratings["timestamp"].round()).all():
        raise ValueError(f"{folder / 'ml-100k.inter'}: non-integer timestamps")
    ratings = ratings.astype({"user": "int64", "item": "int64", "timestamp": "int64"})
    raw = _read_table(folder / "ml-100k.item", sep="\t", dtype=str).rename(columns=strip)
    genres = []
    for tokens in raw["class"]:
        names = tokens.split()  # "Children's", "Film-Noir", "Sci-Fi" contain no spaces
        unknown = set(names) - set(GENRE_COLUMNS)
        if unknown:
            raise ValueError(f"{folder / 'ml-100k.item'}: unknown genre tokens {sorted(unknown)}")
        genres.append(tuple(g for g in ALL_GENRES if g in names))  # canonical order
    items = pd.DataFrame({"item": raw["item"].astype("int64"), "title": raw["movie_title"], "genres": genres})
    users = _read_table(folder / "ml-100k.user", sep="\t", dtype=str).rename(columns=strip)
    users = users.astype({"user": "int64", "age": "int64"})
    return _tidy(
        ratings, items, users, folder, split_seed, expected_counts, source or f"RecBole atomic files in {folder}"
    )


def read_folder(folder, split_seed=0, expected_counts=EXPECTED_COUNTS, source=None) -> MovieLens:
    """Read whichever layout `folder` holds (GroupLens preferred if both)."""
    reader = {"grouplens": read_grouplens, "recbole": read_recbole}.get(find_layout(folder))
    if reader is None:
        raise FileNotFoundError(f"{folder} holds neither {'/'.join(GROUPLENS_FILES)} nor {'/'.join(RECBOLE_FILES)}")
    return reader(folder, split_seed, expected_counts, source)


def _tidy(ratings, items, users, where, split_seed, expected_counts, source) -> MovieLens:
    """0-based ids, canonical dtypes and order, verification, then the split."""
    ratings = ratings.assign(
        user=ratings["user"] - 1, item=ratings["item"] - 1, rating=ratings["rating"].astype("float32")
    )
    ratings = ratings.sort_values(["user", "item"]).reset_index(drop=True)
    items = items.assign(item=items["item"] - 1).sort_values("item").reset_index(drop=True)
    users = users.assign(user=users["user"] - 1)[["user", "age", "gender", "occupation"]]
    users = users.sort_values("user").reset_index(drop=True)
    _verify(ratings, items, users, where, expected_counts)
    return MovieLens(_add_split(ratings, split_seed), items, users, source)


def _verify(ratings, items, users, where, expected_counts) -> None:
    problems = []
    dup = ratings.duplicated(["user", "item"])
    if dup.any():
        u, i = ratings.loc[dup.idxmax(), ["user", "item"]]
        problems.append(f"{dup.sum()} duplicate (user, item) pairs, e.g. raw ({u + 1}, {i + 1})")
    if not ratings["rating"].between(1, 5).all():
        problems.append(f"ratings outside 1..5: {sorted(set(ratings['rating']) - set(range(1, 6)))[:5]}")
    for col, table in (("user", users), ("item", items)):
        if table[col].duplicated().any():
            problems.append(f"repeated {col} ids in the {col} table")
        if not ratings[col].isin(table[col]).all():
            problems.append(f"ratings refer to {col}s missing from the {col} table")
    if expected_counts is not None:
        n_r, n_u, n_i = expected_counts
        got = (len(ratings), len(users), ratings["user"].nunique(), len(items), ratings["item"].nunique())
        if got != (n_r, n_u, n_u, n_i, n_i):
            problems.append(
                f"expected {n_r} ratings, {n_u} users, {n_i} items; got {got[0]} ratings, "
                f"{got[1]} users ({got[2]} rating), {got[3]} items ({got[4]} rated)"
            )
        elif users["user"].min() != 0 or items["item"].min() != 0:
            problems.append("raw ids do not start at 1")
    if problems:
        raise ValueError(f"MovieLens-100K data in {where} failed checks: " + "; ".join(problems))


def _add_split(ratings: pd.DataFrame, split_seed: int) -> pd.DataFrame:
    """80/10/10 by a seeded permutation of the canonically sorted rows."""
    n = len(ratings)
    perm = np.random.default_rng(split_seed).permutation(n)
    n_train, n_valid = n * 8 // 10, n // 10  # integer maths: exactly 80,000 / 10,000
    split = np.full(n, "test", dtype=object)
    split[perm[:n_train]] = "train"
    split[perm[n_train : n_train + n_valid]] = "valid"
    return ratings.assign(split=pd.Series(split, index=ratings.index, dtype=str))


# ---------------------------------------------------------------- sources


def _fetch_grouplens_zip(dest: Path) -> None:
    """Download the GroupLens zip and unpack the three files we read into `dest`."""
    with urllib.request.urlopen(GROUPLENS_URL, timeout=10) as response:
        archive = zipfile.ZipFile(io.BytesIO(response.read()))
    for name in GROUPLENS_FILES:
        (dest / name).write_bytes(archive.read(f"ml-100k/{name}"))


def _pip_download_wheel(dest: Path) -> Path:
    """`pip download` the recbole wheel (no deps, wheel only) into `dest`; return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", RECBOLE_WHEEL, "-d", str(dest)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    wheels = sorted(dest.glob("recbole-*.whl"))
    if done.returncode != 0 or not wheels:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"pip download exited {done.returncode}: {tail[0]}")
    return wheels[0]


def _fetch_recbole_wheel(dest: Path) -> None:
    """Unpack only the three ml-100k atomic files from the recbole wheel into `dest`."""
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(_pip_download_wheel(Path(tmp))) as wheel:
        for name in RECBOLE_FILES:
            (dest / name).write_bytes(wheel.read(RECBOLE_PREFIX + name))


def _fill_cache(target: Path, fetch) -> None:
    """Run `fetch(tmpdir)` into a temp dir next to `target`, check it, then move it in.

    Moving with os.replace is atomic, so an interrupted download leaves only a
    stray temp dir, never a `target` that looks complete but is not.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".ml-100k-partial-"))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache need not be
    try:
        fetch(tmp)
        read_folder(tmp)  # refuse to cache anything that fails verification
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        if not target.exists():
            os.replace(tmp, target)
        else:  # a folder with other files is in the way: move ours in file by file
            for f in tmp.iterdir():
                os.replace(f, target / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _locate(data_dir=None, cache_dir=None, offline=None) -> tuple[Path, str]:
    folder, source = _find_source(data_dir, cache_dir, offline)
    say(f"MovieLens-100K: {source}")  # one line, so notebook users see where data came from
    return folder, source


def _find_source(data_dir, cache_dir, offline) -> tuple[Path, str]:
    explicit = data_dir or os.environ.get("IKD_MOVIELENS_DIR")
    if explicit:
        layout = find_layout(explicit)
        if layout is None:
            raise FileNotFoundError(
                f"MovieLens folder {explicit} (from {'data_dir' if data_dir else 'IKD_MOVIELENS_DIR'}) "
                f"must hold {', '.join(GROUPLENS_FILES)} or {', '.join(RECBOLE_FILES)}"
            )
        return Path(explicit), f"{layout} files in {explicit}"
    target = cache_root(cache_dir) / "ml-100k"
    if find_layout(target):
        return target, f"cache {target} ({find_layout(target)} layout)"
    offline = os.environ.get("IKD_OFFLINE") == "1" if offline is None else offline
    attempts = [f"cache: no complete layout in {target}"]
    sources = [(f"{RECBOLE_WHEEL} wheel via pip download", _fetch_recbole_wheel)]
    # `offline` skips only the direct URL: pip may be served by a local mirror or
    # its own cache, so it is still worth a try.
    if offline:
        attempts.append(f"GroupLens zip {GROUPLENS_URL}: skipped (offline)")
    else:
        sources.insert(0, (f"GroupLens zip {GROUPLENS_URL}", _fetch_grouplens_zip))
    for name, fetch in sources:
        try:
            _fill_cache(target, fetch)
            return target, f"{name} -> {target}"
        except Exception as e:  # any failure just moves on to the next source
            attempts.append(f"{name}: {type(e).__name__}: {e}")
    raise FileNotFoundError(
        "Could not find MovieLens-100K. Provide it in one of these ways:\n"
        f"  1. set IKD_MOVIELENS_DIR (or pass data_dir) to a folder with {'/'.join(GROUPLENS_FILES)} "
        f"or {'/'.join(RECBOLE_FILES)};\n"
        f"  2. put those files in {target} (the cache; set with cache_dir or IKD_CACHE_DIR);\n"
        f"  3. go online (offline=False, IKD_OFFLINE unset) so {GROUPLENS_URL} can be downloaded;\n"
        f"  4. allow `pip download {RECBOLE_WHEEL}` (PyPI or a pip mirror).\n"
        "Attempts:\n  - " + "\n  - ".join(attempts)
    )


def locate_ml100k(data_dir=None, cache_dir=None, offline=None) -> Path:
    """Return a folder holding either layout; see the module docstring for the order."""
    return _locate(data_dir, cache_dir, offline)[0]


def load_movielens(data_dir=None, cache_dir=None, split_seed=0, offline=None) -> MovieLens:
    """Locate, read and verify MovieLens-100K, with the fixed split for `split_seed`."""
    folder, source = _locate(data_dir, cache_dir, offline)
    return read_folder(folder, split_seed, source=source)


# ---------------------------------------------------------------- genres


def check_genres(names) -> None:
    """Raise ValueError for any name not in ALL_GENRES, suggesting the closest."""
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if name not in ALL_GENRES:
            close = difflib.get_close_matches(name, ALL_GENRES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown genre {name!r}.{hint} Valid genres: {', '.join(ALL_GENRES)}")


def genre_counts(ml: MovieLens) -> pd.Series:
    """Number of ratings per genre (a movie counts for each of its genres), descending."""
    per_item = ml.ratings["item"].value_counts()
    exploded = ml.items[["item", "genres"]].explode("genres").dropna()
    counts = exploded["item"].map(per_item).fillna(0).groupby(exploded["genres"]).sum()
    counts = counts.reindex(list(ALL_GENRES), fill_value=0).astype("int64")
    return counts.sort_values(ascending=False, kind="stable").rename("ratings")


def genre_task(ml: MovieLens, genre: str) -> pd.DataFrame:
    """Ratings of movies with `genre`, keeping each rating's split from the full table."""
    check_genres(genre)
    has = ml.items.loc[ml.items["genres"].map(lambda g: genre in g), "item"]
    return ml.ratings[ml.ratings["item"].isin(has)].reset_index(drop=True)
