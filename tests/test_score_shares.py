"""bench/score_shares.py: per dev set and gold class, what the model counts as negative; its
`bank_card` set is the text of bench/alerts_real.py's card bursts, and `--show` lists the
disagreements. Bad arguments exit 2 with one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sentiment"
sys.path.insert(0, str(ROOT / "bench"))

import score_shares  # noqa: E402


def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys):
    assert score_shares.main(["--data", str(tmp_path / "none")]) == 2
    assert "no labelled corpora" in capsys.readouterr().err
    assert score_shares.main(["--data", str(tmp_path), "--model", str(tmp_path)]) == 2  # empty dir
    assert "no labelled corpora" in capsys.readouterr().err
    if not DATA.exists():
        return
    assert score_shares.main(["--data", str(DATA), "--model", str(tmp_path)]) == 2
    assert "not a model directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        score_shares.main(["--show", "-1"])
    assert exit_.value.code == 2


@pytest.mark.skipif(not DATA.exists(), reason="needs ../shared/data/sentiment")
def test_the_card_set_and_its_disagreements(capsys):
    assert score_shares.main(["--data", str(DATA), "--sets", "bank_card", "--show", "2",
                              "--model", str(ROOT / "nlp" / "model")]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[2]: line.split() for line in out.splitlines() if line.startswith("bank_card /")}
    assert set(rows) == {"negative", "neutral", "positive"}
    n_negative, labelled = int(rows["negative"][3]), float(rows["negative"][4])
    assert n_negative > 0 and 0.3 < labelled < 0.7  # the card complaints, about half found
    assert float(rows["neutral"][4]) < 0.15  # few neutral card comments miscounted
    missed = [line for line in out.splitlines() if line.startswith("    P=")]
    assert len(missed) == 4 and "gold negative, not labelled negative" in out
