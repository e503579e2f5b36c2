"""Prompt templates and answer extraction for real models (chat, plain, raw)."""

import json
import typing

import pytest

pytest.importorskip("torch")

from hf_checkpoint import chat_tokenizer
from hypothesis import assume, given
from hypothesis import strategies as st

from rlscaling.trainer.config import TaskConfig, TrainConfig
from rlscaling.trainer.model import build_tokenizer
from rlscaling.trainer.prompts import (
    PROMPT_FILE,
    PromptFormat,
    longest_prompt,
    prompt_format,
    record_template,
    resolve,
)
from rlscaling.trainer.tasks import (
    EXTRACTIONS,
    Problem,
    extract_answer,
    format_answer,
    get_task,
    make_splits,
    make_task_splits,
    score,
)

SORT = Problem("sort:3159=", "1359")


# ---- answer extraction --------------------------------------------------------------------


def test_extraction_choices_match_the_config():
    field = TaskConfig.model_fields["extraction"].annotation
    assert typing.get_args(field) == EXTRACTIONS


@pytest.mark.parametrize(
    "response, extraction, expected",
    [
        (r"I sort them: \boxed{1359}", "boxed", "1359"),
        (r"\boxed{1} no, \boxed{\frac{1}{2}}", "boxed", r"\frac{1}{2}"),
        (r"\boxed{13", "boxed", None),  # cut off before the closing brace
        ("So the answer is 1359.", "answer_is", "1359"),
        ("Answer: 42\nthanks", "answer_is", "42"),
        (r"the answer is \boxed{7}.", "answer_is", "7"),
        ("first 12, then 1,234 and 0139", "last_number", "0139"),
        ("total 1,234", "last_number", "1234"),
        ("from 3,5,7", "last_number", "7"),
        ("no digits here", "last_number", None),
        (r"maybe 3, so \boxed{1359} (not 4)", "math", "1359"),  # boxed wins
        ("the answer is 12. Check: 3*4", "math", "12"),  # then "answer is"
        ("it is -7.5 in the end", "math", "-7.5"),  # then the last number
        ("  1359 ", "full", "  1359 "),
    ],
)
def test_extractions_read_the_answer(response, extraction, expected):
    got = extract_answer(response, "</think>", require_marker=False, extraction=extraction)
    assert got == expected


def test_the_marker_is_required_only_when_asked():
    assert extract_answer("1359", "</think>") is None  # ScaleRL: no marker, no answer
    assert extract_answer("1359", "</think>", require_marker=False) == "1359"
    # with the marker present its tail is read either way
    assert extract_answer("7</think>1359", "</think>", require_marker=False) == "1359"
    assert extract_answer("9 \\boxed{1}</think>\\boxed{2}", extraction="math") == "2"
    with pytest.raises(ValueError, match="extraction='box'; choose one of full, boxed"):
        extract_answer("x", extraction="box")


@given(
    answer=st.from_regex(r"[0-9]{1,8}", fullmatch=True),
    prefix=st.text(alphabet=st.characters(blacklist_categories=["Nd"]), max_size=30),
    extraction=st.sampled_from(EXTRACTIONS),
)
def test_a_written_answer_reads_back(answer, prefix, extraction):
    """What the warm-up teaches (format_answer) is what scoring reads, after any digit-free
    preamble that does not itself contain a boxed answer or an 'answer is'."""
    assume("\\boxed{" not in prefix and "answer" not in prefix.lower())
    written = format_answer(answer, extraction)
    text = written if extraction == "full" else f"{prefix}\n{written}"
    assert extract_answer(text, None, extraction=extraction) == answer


def test_task_config_sets_how_answers_are_read():
    cfg = TaskConfig(
        name="sorting", difficulty=3, n_train=16, n_val=4, require_marker=False, extraction="math"
    )
    task, _, _ = make_splits(cfg)
    assert score(task, r"ok \boxed{1359}", SORT, "</think>") == 1.0
    assert score(task, "The answer is 1395.", SORT, "</think>") == 0.0
    assert task.target(SORT, None) == r"\boxed{1359}"
    default, _, _ = make_splits(TaskConfig(name="sorting", n_train=16, n_val=4))
    assert score(default, r"\boxed{1359}", SORT, "</think>") == 0.0  # today's rule: marker
    assert score(default, "..</think>1359", SORT, "</think>") == 1.0
    assert default.target(SORT, "</think>") == "</think>1359"


def test_multi_task_runs_read_each_task_its_own_way():
    cfg = TrainConfig(
        rollout={"length_control": "truncation"},
        tasks=[
            {"name": "sorting", "n_train": 16, "n_val": 4, "extraction": "math"},
            {"name": "addition", "n_train": 16, "n_val": 4},
        ],
    )
    task, _, _ = make_task_splits(cfg.task_configs())
    sort = Problem("sort:31=", "13", task="sorting")
    add = Problem("1+2=", "3", task="addition")
    assert score(task, r"</think>\boxed{13}", sort, "</think>") == 1.0
    assert score(task, r"</think>\boxed{3}", add, "</think>") == 0.0  # addition: full text
    assert score(task, "</think>3", add, "</think>") == 1.0


# ---- templates ----------------------------------------------------------------------------


def test_auto_is_raw_for_the_tiny_model_and_chat_or_plain_for_a_model_dir(tmp_path):
    tiny, chat, plain = build_tokenizer(), chat_tokenizer(), chat_tokenizer(chat_template=None)
    assert resolve("auto", tiny, None) == "raw"
    assert resolve("auto", chat, tmp_path) == "chat"
    assert resolve("auto", plain, tmp_path) == "plain"
    record_template(tmp_path, "raw")  # a base model the trainer saved after a raw warm-up
    assert json.loads((tmp_path / PROMPT_FILE).read_text()) == {"template": "raw"}
    assert resolve("auto", chat, tmp_path) == "raw"
    assert resolve("plain", chat, tmp_path) == "plain"  # an explicit choice wins
    with pytest.raises(ValueError, match=r"prompt.template='chat' but the tokenizer has no chat"):
        resolve("chat", plain, tmp_path)


def test_raw_is_todays_format():
    tok = build_tokenizer()
    cfg = TrainConfig(task={"name": "sorting"})
    fmt = prompt_format(cfg, tok, get_task("sorting"))
    assert fmt.template == "raw"
    assert fmt.encode(tok, SORT) == tok(SORT.prompt)["input_ids"]


def test_chat_template_renders_instruction_hint_and_problem(tmp_path):
    tok = chat_tokenizer()
    cfg = TrainConfig(
        model={"path": str(tmp_path)},
        prompt={"system": "Be brief."},
        task={"name": "sorting", "n_train": 16, "answer_marker": None, "extraction": "math"},
        rollout={"length_control": "truncation"},
    )
    task, _, _ = make_splits(cfg.task)
    fmt = prompt_format(cfg, tok, task)
    assert fmt.template == "chat"
    text = fmt.text(SORT, tok)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nSort the digits in ascending order. Put the final answer in "
        "\\boxed{}.\n\nsort:3159=<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = fmt.encode(tok, SORT)
    assert tok.decode(ids) == text
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>")  # one token, not 12 characters


def test_plain_template_and_think_marker_hint(tmp_path):
    tok = chat_tokenizer(chat_template=None)
    cfg = TrainConfig(
        model={"path": str(tmp_path)},
        task={"name": "addition", "n_train": 16, "instruction": "Add them up."},
    )
    task, _, _ = make_splits(cfg.task)
    fmt = prompt_format(cfg, tok, task)
    assert fmt.text(Problem("2+2=", "4")) == (
        "Add them up. Think first, then write </think> followed by the answer only.\n\n"
        "2+2=\nAnswer:"
    )


def test_a_resolved_template_is_checked():
    with pytest.raises(ValueError, match="template='auto'; a resolved template"):
        PromptFormat("auto")


def test_longest_prompt_counts_the_template(tmp_path):
    tok = chat_tokenizer()
    cfg = TrainConfig(model={"path": str(tmp_path)}, task={"name": "sorting", "difficulty": 4})
    raw = TrainConfig(task={"name": "sorting", "difficulty": 4})
    assert longest_prompt(raw, build_tokenizer()) == len("sort:1234=") + 1  # + BOS
    assert longest_prompt(cfg, tok) > 60  # the chat turn around the same problem


def test_the_forced_phrase_ends_with_the_markers_own_tokens():
    """A subword vocabulary may hold " </think>" as one token: encoded whole, the paper's
    phrase would end with that token and never be recognised as the end of thinking."""
    from tokenizers import AddedToken

    from rlscaling.trainer.setup import sampling_params

    tok = build_tokenizer()
    tok.add_tokens([AddedToken(" </think>", normalized=False)])
    cfg = TrainConfig()  # ScaleRL: interruption with "... answer now. </think>"
    whole = tok(cfg.rollout.interruption_text, add_special_tokens=False)["input_ids"]
    marker = tok("</think>", add_special_tokens=False)["input_ids"]
    assert whole[-1:] != marker  # the merged token
    params = sampling_params(cfg, tok)
    assert params.marker_ids == tuple(marker)
    assert params.interruption_ids[-len(marker) :] == tuple(marker)
    assert tok.decode(params.interruption_ids) == cfg.rollout.interruption_text
    # the tiny tokenizer (</think> one token, never merged) gets the same ids as before
    plain = build_tokenizer()
    assert sampling_params(cfg, plain).interruption_ids == tuple(
        plain(cfg.rollout.interruption_text, add_special_tokens=False)["input_ids"]
    )
