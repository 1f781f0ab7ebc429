"""The moo-lenient command line: listing, a tiny run, and clear errors without tracebacks."""

import subprocess
import sys

import pytest

from moo_lenient.cli import main


def test_list(capsys):
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("barrier-2", "digits-3", "zdt1", "plc-noref", "stch", "quick", "full"):
        assert name in out


def test_tiny_run_writes_results_and_prints_the_table(tmp_path, capsys):
    code = main(
        [
            "bench",
            "--problems", "vlmop2",
            "--methods", "ls,mgda", "plc",
            "--forms", "det",
            "--seeds", "1",
            "--steps", "15",
            "--preferences", "3",
            "--out", str(tmp_path),
            "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "**vlmop2**, det (1 seed)" in out and "| MGDA |" in out
    assert "3 configurations" in out
    assert (tmp_path / "runs.jsonl").exists() and (tmp_path / "table.md").exists()
    assert (tmp_path / "plots" / "vlmop2-det-front.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--suite", "huge"], "unknown suite 'huge'"),
        (["--methods", "adam"], "unknown method 'adam'"),
        (["--problems", "zdt7"], "unknown problem 'zdt7'"),
        (["--forms", "wet"], "unknown form 'wet'"),
        (["--seeds", "0"], "expected a positive integer"),
        (["--steps", "ten"], "expected a positive integer"),
        (["--jobs", "-1"], "expected a positive integer"),
        (["--first-seed", "-2"], "expected an integer >= 0"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", *args, "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_console_entry_point_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "moo_lenient.cli", "bench", "--methods", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown method 'nope'" in proc.stderr and "Traceback" not in proc.stderr
