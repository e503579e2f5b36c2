"""The run-directory contract shared by the trainer's writer and the library's loader."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlscaling.io import rundir

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
records = st.lists(st.dictionaries(st.text(max_size=8), scalars, max_size=5), max_size=6)


@settings(max_examples=60, deadline=None)
@given(records=records, cut=st.floats(0.01, 0.99))
def test_complete_lines_are_read_and_a_torn_last_line_is_skipped_and_counted(
    tmp_path_factory, records, cut
):
    path = tmp_path_factory.mktemp("log") / rundir.EVAL_FILE
    text = "".join(json.dumps(r) + "\n" for r in records)
    whole = json.dumps({"step": 7, "reward": 0.5})
    torn = whole[: max(1, int(len(whole) * cut))]  # a write cut off: never valid JSON
    path.write_text(text)
    assert rundir.read_jsonl(path) == (records, 0)
    path.write_text(text + torn)
    told = []
    assert rundir.read_jsonl(path, on_torn=told.append) == (records, 1)
    assert len(told) == 1 and f"last line ({len(records) + 1}) is incomplete" in told[0]


def test_bad_lines_before_the_last_are_errors_naming_the_line(tmp_path):
    path = tmp_path / rundir.TRAIN_FILE
    path.write_text('{"step": 1}\n\n{"step": 2\n{"step": 3}\n')
    with pytest.raises(rundir.LogLineError, match=r"train.jsonl: line 3 is not valid JSON"):
        rundir.read_jsonl(path)
    path.write_text('{"step": 1}\n[1, 2]\n')
    with pytest.raises(rundir.LogLineError, match="line 2 is a JSON list, not an object"):
        rundir.read_jsonl(path)
    path.write_text('{"step": 1}\n\n   \n')  # blank lines are not records and not torn
    assert rundir.read_jsonl(path) == ([{"step": 1}], 0)


def test_the_contract_needs_only_the_standard_library():
    source = Path(rundir.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)
    code = "import sys, rlscaling.io.rundir; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch" not in out.stdout
