import json

import numpy as np
import pytest

from moo_lenient import PreferenceIgnoredWarning
from moo_lenient.cli import main


def test_align_writes_log_checkpoint_and_result(tmp_path, capsys):
    out = tmp_path / "run"
    # a single run of a preference-free method under a preference says so
    with pytest.warns(PreferenceIgnoredWarning, match="MGDA"):
        rc = main(["align", "--method", "mgda", "--preference", "0.7,0.3", "--steps", "2",
                   "--eval-prompts", "2", "--out", str(out), "--no-progress"])  # fmt: skip
    assert rc == 0
    result = json.loads((out / "result.json").read_text())
    assert result["method"] == "mgda" and result["preference"] == [0.7, 0.3]
    assert len(result["eval_mean_rewards"]) == 2
    assert len((out / "log.csv").read_text().splitlines()) == 3
    assert (out / "checkpoint.pt").stat().st_size > 0
    assert "| words |" in capsys.readouterr().out


def test_align_sweep_small(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["align-sweep", "--methods", "ls", "plc", "--preferences", "2", "--steps", "1"]
    argv += ["--seeds", "2"]
    argv += ["--tabular-steps", "20", "--eval-prompts", "2", "--out", str(out), "--no-progress"]
    rc = main(argv)
    assert rc == 0
    data = json.loads((out / "sweep.json").read_text())
    assert set(data["lm"]) == {"ls", "plc"} and data["seeds"] == [0, 1]
    assert np.asarray(data["lm"]["ls"]).shape == (2, 2, 2)  # seeds x preferences x rewards
    assert (out / "front.png").stat().st_size > 0 and (out / "front_tabular.png").exists()
    text = capsys.readouterr().out
    assert "hypervolume" in text and "tabular softmax policy" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["align", "--preference", "0.5,0.2,0.3", "--steps", "1"], "3 entries but there are 2"),
        (["align", "--method", "nope", "--steps", "1"], "unknown method"),
        (["align", "--rewards", "words", "nope", "--steps", "1"], "unknown reward"),
        (["align", "--preference", "a,b"], "comma-separated numbers"),
        (["align-sweep", "--preferences", "1", "--steps", "1"], "at least two preferences"),
    ],
)
def test_align_bad_arguments_exit_2(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
