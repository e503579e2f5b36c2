"""Weight files: one format for every engine and process (tied weights under both names)."""

import pytest

torch = pytest.importorskip("torch")

from rlscaling.trainer.config import ModelConfig  # noqa: E402
from rlscaling.trainer.model import build_tiny_model, build_tokenizer  # noqa: E402
from rlscaling.trainer.rollout import TorchEngine  # noqa: E402
from rlscaling.trainer.weights import (  # noqa: E402
    cpu_state,
    load_weights_file,
    read_weights,
    write_state,
    write_weights,
)

TIED = ("model.embed_tokens.weight", "lm_head.weight")


@pytest.fixture(scope="module")
def models():
    tok = build_tokenizer()
    cfg = ModelConfig(hidden_size=64, num_layers=1, num_heads=2)
    return build_tiny_model(cfg, tok, seed=1), build_tiny_model(cfg, tok, seed=2)


def test_cpu_state_separates_tied_weights_and_copies_on_request(models):
    a, _ = models
    assert a.get_input_embeddings().weight.data_ptr() == a.lm_head.weight.data_ptr()
    state = cpu_state(a)
    assert set(TIED) <= set(state)
    assert len({t.data_ptr() for t in state.values()}) == len(state)  # nothing shared
    # without copy the first name aliases the model (cheap to write); with copy nothing does
    own = {p.data_ptr() for p in a.parameters()}
    assert state["model.embed_tokens.weight"].data_ptr() in own
    assert not own & {t.data_ptr() for t in cpu_state(a, copy=True).values()}


def test_write_read_load_round_trip_keeps_the_tie(models, tmp_path):
    a, b = models
    path = write_weights(a, tmp_path / "w.safetensors")
    assert not (tmp_path / "w.safetensors.tmp").exists()
    assert set(read_weights(path)) == set(a.state_dict())  # tied weights under both names
    engine = TorchEngine(b)  # the generator's engine owns its model and reads the file
    engine.update_weights_from_file(str(path), 4)
    assert engine.version == 4
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name
    assert b.get_input_embeddings().weight.data_ptr() == b.lm_head.weight.data_ptr()


def test_a_file_without_the_tied_duplicate_loads_and_a_wrong_file_raises(models, tmp_path):
    a, b = models
    state = cpu_state(a, copy=True)
    del state["lm_head.weight"]  # as save_pretrained writes a tied model
    with torch.no_grad():
        state["model.embed_tokens.weight"] += 1.0
    load_weights_file(b, write_state(state, tmp_path / "hf.safetensors"))
    torch.testing.assert_close(b.lm_head.weight, state["model.embed_tokens.weight"])
    del state["model.norm.weight"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing: \['model.norm.weight'\].*extra.weight"):
        load_weights_file(b, write_state(state, tmp_path / "bad.safetensors"))
