"""RunConfig: JSON round trip and validation messages."""
import json

import pytest

from explorer.config import ConfigError, RunConfig


def test_round_trip():
    cfg = RunConfig().replace(train={"beta": 4.0, "epochs": 3}, model={"hidden": [64, 32]})
    again = RunConfig.from_json(cfg.to_json())
    assert again == cfg
    assert again.train.beta == 4.0 and again.model.hidden == [64, 32]


def test_int_accepted_for_float():
    cfg = RunConfig.from_dict({"train": {"beta": 2, "lr": 1}})
    assert isinstance(cfg.train.beta, float) and cfg.train.beta == 2.0


@pytest.mark.parametrize("d,msg", [
    ({"train": {"beta": -1}}, "train.beta"),
    ({"train": {"lr": 1e3}}, "train.lr"),
    ({"train": {"lr": float("nan")}}, "finite"),
    ({"model": {"latent_dim": 0}}, "model.latent_dim"),
    ({"model": {"latent_dim": "2"}}, "whole number"),
    ({"model": {"hidden": []}}, "hidden"),
    ({"model": {"kind": "gan"}}, "model.kind"),
    ({"data": {"name": "cifar"}}, "data.name"),
    ({"data": {"name": "file"}}, "needs the path"),
    ({"data": {"name": "moons"}, "model": {"body": "conv"}}, "conv body"),
    ({"train": {"batch_size": True}}, "whole number"),
    ({"bogus": 1}, "unknown key"),
    ({"train": {"bogus": 1}}, "unknown key"),
    ({"train": []}, "expected an object"),
    ([], "expected a JSON object"),
])
def test_bad_configs(d, msg):
    with pytest.raises(ConfigError, match=msg):
        RunConfig.from_dict(d)


def test_bad_json():
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.from_json("{not json")
    assert json.loads(RunConfig().to_json())["model"]["latent_dim"] == 2
