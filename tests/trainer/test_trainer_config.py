"""Config validation, presets and YAML loading."""

import pytest

pytest.importorskip("torch")

from pydantic import ValidationError

from rlscaling.trainer.config import (
    PRESETS,
    ConfigError,
    TrainConfig,
    load_config,
    parse_override,
)


def test_defaults_are_scalerl():
    cfg = TrainConfig()
    assert cfg.recipe == "scalerl"
    assert (cfg.loss.name, cfg.loss.aggregation, cfg.loss.eps_max) == ("cispo", "prompt", 5.0)
    assert cfg.advantage.name == "batch_std" and cfg.advantage.zero_variance_filter
    assert cfg.sampler.npr and cfg.sampler.npr_threshold == 0.9
    assert cfg.model.fp32_lm_head and cfg.rollout.length_control == "interruption"
    assert cfg.off_policy_lag == 8 and cfg.rollout.mode == "pipeline_k"
    assert cfg.rollout.temperature == 1.0 and cfg.rollout.top_p == 1.0 and cfg.rollout.top_k == 0


@pytest.mark.parametrize("recipe", list(PRESETS))
def test_presets_validate_and_round_trip(recipe):
    cfg = TrainConfig(recipe=recipe)
    again = TrainConfig(**cfg.model_dump())
    assert again == cfg


def test_grpo_and_dapo_presets():
    g = TrainConfig(recipe="grpo")
    assert (g.loss.name, g.loss.aggregation, g.advantage.name) == ("grpo", "sample", "group_std")
    assert not g.advantage.zero_variance_filter and not g.sampler.npr and g.off_policy_lag == 0
    d = TrainConfig(recipe="dapo")
    assert (d.loss.name, d.loss.clip_low, d.loss.clip_high) == ("ppo", 0.2, 0.28)
    assert d.loss.aggregation == "token" and d.advantage.zero_variance_filter
    assert g.rollout.mode == d.rollout.mode == "inline"


def test_explicit_values_win_over_preset():
    cfg = TrainConfig(recipe="grpo", loss={"aggregation": "prompt"}, off_policy_lag=2)
    assert cfg.loss.aggregation == "prompt" and cfg.loss.name == "grpo"
    assert cfg.off_policy_lag == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"recipe": "scalrl"}, "unknown recipe 'scalrl'; choose one of scalerl, grpo, dapo"),
        ({"loss": {"name": "cipso"}}, "unknown loss 'cipso'; choose one of cispo, grpo"),
        ({"advantage": {"name": "gae"}}, "unknown advantage 'gae'"),
        ({"task": {"name": "chess"}}, "unknown task 'chess'"),
        ({"rollout": {"engine": "sglang"}}, "unknown rollout engine 'sglang'; choose one of"),
        (
            {"loss": {"aggregation": "batch"}},
            "unknown aggregation 'batch'; choose one of prompt, s",
        ),
        ({"model": {"hidden_size": 64, "num_heads": 4}}, "head_dim .* is below 32"),
        ({"model": {"path": "/nonexistent/model"}}, "is not a directory"),
        ({"task": {"name": "jsonl"}}, "needs task.path"),
        ({"lr": 1e-3}, "Extra inputs are not permitted"),
        ({"steps": 0}, "greater than or equal to 1"),
        ({"rollout": {"interruption_text": "stop now"}}, "must contain task.answer_marker"),
    ],
)
def test_bad_configs_fail_with_a_clear_message(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        TrainConfig(**kwargs)


def test_load_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("recipe: dapo\nsteps: 7\nloss:\n  clip_high: 0.3\n")
    cfg = load_config(path, parse_override("optim.lr=0.002"))
    assert (cfg.recipe, cfg.steps, cfg.loss.clip_high, cfg.optim.lr) == ("dapo", 7, 0.3, 0.002)


def test_load_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("loss: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("loss:\n  name: nope\n")
    with pytest.raises(ConfigError, match=r"(?s)wrong.yaml: invalid config:.*unknown loss 'nope'"):
        load_config(wrong)
    with pytest.raises(ConfigError, match=r"key\.sub=value"):
        parse_override("loss.name")


def test_pure_float16_training_is_refused():
    """AdamW's state underflows in float16 (eps 1e-8 is 0 there): the first step writes inf
    into the weights, so float16 trains only through FP32 master weights."""
    with pytest.raises(ValueError, match=r"model.dtype='float16' with optim.fp32_master_weights"):
        TrainConfig(model={"dtype": "float16"}, optim={"fp32_master_weights": False})
    assert TrainConfig(model={"dtype": "float16"}).optim.fp32_master_weights
    TrainConfig(model={"dtype": "bfloat16"}, optim={"fp32_master_weights": False})  # allowed


def test_real_model_fields_default_to_todays_behaviour():
    cfg = TrainConfig()
    assert cfg.prompt.template == "auto" and cfg.prompt.system is None
    assert cfg.task.require_marker and cfg.task.extraction == "full"
    assert cfg.rollout.max_model_len is None and cfg.rollout.kv_cache_gb is None
    with pytest.raises(ValueError, match="template"):
        TrainConfig(prompt={"template": "jinja"})
    with pytest.raises(ValueError, match="gpu_memory_utilization"):
        TrainConfig(rollout={"gpu_memory_utilization": 1.5})
