"""Tests for ikd_lib.movielens: both on-disk layouts, the split, genres, sources."""

import zipfile

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from ikd_lib.movielens import data as mlmod
from ikd_lib.movielens.data import (
    ALL_GENRES,
    DEFAULT_GENRES,
    GENRE_COLUMNS,
    check_genres,
    find_layout,
    genre_counts,
    genre_task,
    load_movielens,
    read_folder,
    read_grouplens,
    read_recbole,
)

# ------------------------------------------------------------ writers (tidy -> files)


def write_grouplens(folder, ratings, items, users):
    """Write tidy (0-based) tables as u.data / u.item (latin-1) / u.user."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "u.data", "w") as f:
        for r in ratings.itertuples():
            f.write(f"{r.user + 1}\t{r.item + 1}\t{int(r.rating)}\t{r.timestamp}\n")
    with open(folder / "u.item", "w", encoding="latin-1") as f:
        for it in items.itertuples():
            flags = [int(g in it.genres or (g == "unknown" and not it.genres)) for g in GENRE_COLUMNS]
            f.write(
                "|".join([str(it.item + 1), it.title, "01-Jan-1995", "", "http://x"] + [str(x) for x in flags]) + "\n"
            )
    with open(folder / "u.user", "w") as f:
        for u in users.itertuples():
            f.write(f"{u.user + 1}|{u.age}|{u.gender}|{u.occupation}|{getattr(u, 'zip', '00000')}\n")


def write_recbole(folder, ratings, items, users):
    """Write tidy tables as RecBole atomic files (UTF-8, typed headers)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "ml-100k.inter", "w") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        for r in ratings.itertuples():
            f.write(f"{r.user + 1}\t{r.item + 1}\t{int(r.rating)}\t{r.timestamp}\n")
    with open(folder / "ml-100k.item", "w", encoding="utf-8") as f:
        f.write("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n")
        for it in items.itertuples():
            f.write(f"{it.item + 1}\t{it.title}\t1995\t{' '.join(it.genres) or 'unknown'}\n")
    with open(folder / "ml-100k.user", "w") as f:
        f.write("user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n")
        for u in users.itertuples():
            f.write(f"{u.user + 1}\t{u.age}\t{u.gender}\t{u.occupation}\t{getattr(u, 'zip', '00000')}\n")


@pytest.fixture
def tiny():
    """A dozen users and items, 40 ratings in file order that is not sorted."""
    rng = np.random.default_rng(1)
    pairs = rng.permutation(12 * 12)[:40]
    ratings = pd.DataFrame(
        {
            "user": pairs // 12,
            "item": pairs % 12,
            "rating": rng.integers(1, 6, 40).astype("float32"),
            "timestamp": rng.integers(874_000_000, 893_000_000, 40),
        }
    )
    titles = ["Toy Story (1995)", "Misérables, Les (1995)", "Nadja (1994)", "NA"] + [f"Movie {i}" for i in range(8)]
    genres = [
        ("Animation", "Children's", "Comedy"),
        ("Drama", "Musical"),
        ("Film-Noir",),
        (),
        ("Sci-Fi", "Thriller"),
        ("Action",),
        ("Romance", "War"),
        ("Crime", "Drama"),
        ("Western",),
        ("Horror", "Mystery"),
        ("Documentary",),
        ("Adventure", "Fantasy"),
    ]
    items = pd.DataFrame({"item": range(12), "title": titles, "genres": genres})
    users = pd.DataFrame(
        {
            "user": range(12),
            "age": [20 + i for i in range(12)],
            "gender": list("MF" * 6),
            "occupation": ["student", "none"] * 6,
            "zip": ["T8H1N", "01002"] + ["55555"] * 10,
        }
    )
    return ratings, items, users


def fake_wheel(path, folder):
    """A zip laid out like the recbole wheel, holding the atomic files in `folder`."""
    with zipfile.ZipFile(path, "w") as z:
        for name in mlmod.RECBOLE_FILES:
            z.write(folder / name, mlmod.RECBOLE_PREFIX + name)
        z.writestr("recbole/__init__.py", "")
    return path


# ------------------------------------------------------------ layouts on synthetic data


def test_both_layouts_give_identical_tidy_tables(tiny, tmp_path):
    write_grouplens(tmp_path / "gl", *tiny)
    write_recbole(tmp_path / "rb", *tiny)
    assert find_layout(tmp_path / "gl") == "grouplens" and find_layout(tmp_path / "rb") == "recbole"
    gl = read_grouplens(tmp_path / "gl", expected_counts=None)
    rb = read_recbole(tmp_path / "rb", expected_counts=None)
    for name in ("ratings", "items", "users"):
        assert_frame_equal(getattr(gl, name), getattr(rb, name))
    # ... and they equal the content we wrote (sorted, 0-based, split added).
    ratings, items, users = tiny
    want = ratings.sort_values(["user", "item"]).reset_index(drop=True)
    assert_frame_equal(gl.ratings.drop(columns="split"), want)
    assert list(gl.items["title"]) == list(items["title"])  # é via latin-1, "NA" kept
    assert list(gl.items["genres"]) == list(items["genres"])
    assert list(gl.users.columns) == ["user", "age", "gender", "occupation"]
    assert gl.ratings["split"].value_counts().to_dict() == {"train": 32, "valid": 4, "test": 4}
    assert "GroupLens" in gl.source and "RecBole" in rb.source


def test_count_verification_is_on_by_default(tiny, tmp_path):
    write_recbole(tmp_path, *tiny)
    with pytest.raises(ValueError, match=r"expected 100000 ratings.*got 40 ratings"):
        read_folder(tmp_path)


def test_bad_ratings_are_rejected(tiny, tmp_path):
    ratings, items, users = tiny
    dup = pd.concat([ratings, ratings.iloc[:1]])
    write_grouplens(tmp_path / "dup", dup, items, users)
    with pytest.raises(ValueError, match=r"dup.*1 duplicate \(user, item\) pairs"):
        read_grouplens(tmp_path / "dup", expected_counts=None)
    write_recbole(tmp_path / "six", ratings.assign(rating=6.0), items, users)
    with pytest.raises(ValueError, match=r"six.*outside 1\.\.5"):
        read_recbole(tmp_path / "six", expected_counts=None)
    write_recbole(tmp_path / "orphan", ratings, items.iloc[1:], users)
    with pytest.raises(ValueError, match="items missing from the item table"):
        read_recbole(tmp_path / "orphan", expected_counts=None)


# ------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def ml():
    return load_movielens()  # downloads into the cache on first use, then reads the cache


def test_real_counts_and_split(ml):
    r = ml.ratings
    assert (len(r), len(ml.users), len(ml.items)) == (100_000, 943, 1_682)
    assert r["user"].nunique() == 943 and r["item"].nunique() == 1_682
    assert r["rating"].between(1, 5).all() and r["rating"].dtype == np.float32
    assert r["split"].value_counts().to_dict() == {"train": 80_000, "valid": 10_000, "test": 10_000}
    keys = {s: set(zip(g["user"], g["item"])) for s, g in r.groupby("split")}
    assert not (keys["train"] & keys["valid"] or keys["train"] & keys["test"] or keys["valid"] & keys["test"])
    assert r[["user", "item"]].equals(r.sort_values(["user", "item"])[["user", "item"]])
    assert set().union(*ml.items["genres"]) == set(ALL_GENRES)


def test_split_is_reproducible(ml):
    again = load_movielens()
    assert_frame_equal(again.ratings, ml.ratings)
    other = read_folder(mlmod.locate_ml100k(), split_seed=1)
    assert not other.ratings["split"].equals(ml.ratings["split"])


def test_default_genres_are_every_other_rank(ml):
    counts = genre_counts(ml)
    assert list(counts.index[[0, 2, 4, 6, 8, 10, 12, 14]]) == list(DEFAULT_GENRES)
    assert sorted(counts.index) == sorted(ALL_GENRES)
    along = counts[list(DEFAULT_GENRES)].to_numpy()
    assert (np.diff(along) < 0).all()
    assert counts["Drama"] == len(genre_task(ml, "Drama"))


def test_genre_task_keeps_full_table_split(ml):
    full = ml.ratings.set_index(["user", "item"])["split"]
    for genre in DEFAULT_GENRES:
        task = genre_task(ml, genre)
        assert list(task.columns) == list(ml.ratings.columns)
        assert (full.loc[list(zip(task["user"], task["item"]))].to_numpy() == task["split"].to_numpy()).all()
        items = set(ml.items.loc[ml.items["genres"].map(lambda g, genre=genre: genre in g), "item"])
        assert set(task["item"]) == items


def test_grouplens_copy_loads_identically(ml, tmp_path, monkeypatch):
    write_grouplens(tmp_path / "gl", ml.ratings, ml.items, ml.users)
    for how in ("data_dir", "env"):
        if how == "env":
            monkeypatch.setenv("IKD_MOVIELENS_DIR", str(tmp_path / "gl"))
        gl = load_movielens(data_dir=tmp_path / "gl" if how == "data_dir" else None)
        assert "grouplens" in gl.source
        assert_frame_equal(gl.ratings, ml.ratings)
        assert_frame_equal(gl.items[["item", "genres"]], ml.items[["item", "genres"]])
        assert_frame_equal(gl.users, ml.users)


def test_wheel_source_fills_cache_atomically(ml, tmp_path, monkeypatch):
    """The pip-download path, with a local stand-in wheel built from the cached files."""
    monkeypatch.delenv("IKD_MOVIELENS_DIR", raising=False)
    write_recbole(tmp_path / "rb", ml.ratings, ml.items, ml.users)
    wheel = fake_wheel(tmp_path / "recbole-1.2.1-py3-none-any.whl", tmp_path / "rb")
    monkeypatch.setattr(mlmod, "_pip_download_wheel", lambda dest: wheel)
    fresh = load_movielens(cache_dir=tmp_path / "cache", offline=True)
    assert "pip download" in fresh.source
    assert_frame_equal(fresh.ratings, ml.ratings)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["ml-100k"]
    assert sorted(p.name for p in (tmp_path / "cache" / "ml-100k").iterdir()) == sorted(mlmod.RECBOLE_FILES)


# ------------------------------------------------------------ bad input


def test_unknown_genre_lists_valid_names(ml):
    with pytest.raises(ValueError, match=r"'SciFi'.*Did you mean 'Sci-Fi'.*Valid genres: Action, Adventure"):
        genre_task(ml, "SciFi")
    with pytest.raises(ValueError, match="Film-Noir"):
        check_genres(["Drama", "unknown"])
    check_genres(ALL_GENRES)


def test_empty_data_dir_names_expected_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"u\.data.*u\.item.*u\.user.*ml-100k\.inter"):
        load_movielens(data_dir=tmp_path)


def test_no_source_lists_every_way(tmp_path, monkeypatch):
    monkeypatch.delenv("IKD_MOVIELENS_DIR", raising=False)

    def no_pip(dest):
        raise RuntimeError("pip download exited 1: no network")

    monkeypatch.setattr(mlmod, "_pip_download_wheel", no_pip)
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError) as err:
        load_movielens(cache_dir=cache, offline=True)
    msg = str(err.value)
    for needle in (
        "IKD_MOVIELENS_DIR",
        "u.data/u.item/u.user",
        "ml-100k.inter",
        str(cache / "ml-100k"),
        mlmod.GROUPLENS_URL,
        "skipped (offline)",
        "pip download recbole==1.2.1",
        "no network",
    ):
        assert needle in msg
    assert not any(cache.iterdir())  # no half-written cache left behind


def test_invalid_download_is_not_cached(tiny, tmp_path, monkeypatch):
    monkeypatch.delenv("IKD_MOVIELENS_DIR", raising=False)
    write_recbole(tmp_path / "tiny", *tiny)
    wheel = fake_wheel(tmp_path / "bad.whl", tmp_path / "tiny")
    monkeypatch.setattr(mlmod, "_pip_download_wheel", lambda dest: wheel)
    with pytest.raises(FileNotFoundError, match="expected 100000 ratings"):
        load_movielens(cache_dir=tmp_path / "cache", offline=True)
    assert not any((tmp_path / "cache").iterdir())
