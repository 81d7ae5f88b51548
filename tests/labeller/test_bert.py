"""The BERT labeller: a tiny model trains, saves, reloads and predicts the same."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pytest
import taskfile
import torch

from labeller import LabellerError, RuleLabeller, State
from labeller.bert import STATES, BertLabeller, CompactBert
from labeller.training import TrainingPlan, _class_weights, encode_states, train_bert
from simhospital.reports import write_report
from simhospital.truth.findings import FINDINGS, draw_findings

TINY = CompactBert(
    vocab_size=600,
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    max_length=96,
)


def _reports(count: int, seed: int) -> list[tuple[str, dict[str, State]]]:
    out = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        truth = draw_findings(rng)
        written = write_report(
            dict(truth.severity),
            {key: level + 1 for key, level in truth.level.items()},
            rng,
            family="ROSSI",
            given="MARIO",
            birth=dt.date(1950, 1, 1),
            sex="M",
            study_date=dt.date(2017, 1, 1),
        )
        out.append((written.text, {k: State(v) for k, v in written.states.items()}))
    return out


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, dict[str, State]]]:
    return _reports(120, 11)


def _train(
    corpus: list[tuple[str, dict[str, State]]], layout: str
) -> tuple[BertLabeller, list[str]]:
    rules = RuleLabeller(taskfile.lexicon())
    texts = [text for text, _ in corpus]
    weak = [{k: label.state for k, label in labels.items()} for labels in rules.label_many(texts)]
    plan = TrainingPlan(
        spec=TINY, layout=layout, mlm_epochs=1, weak_epochs=1, human_epochs=2, batch_size=16
    )
    torch_state, python_state = torch.random.get_rng_state(), random.getstate()
    labeller, report = train_bert(
        texts[:80], weak[:80], texts[80:], [s for _, s in corpus[80:]], FINDINGS, plan, "tiny"
    )
    # Seeded without touching the caller's random state.
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert random.getstate() == python_state
    phases = {"mlm", "fine-tuning on rule labels", "fine-tuning on human labels"}
    assert set(report.losses) == phases
    assert all(np.isfinite(v) for losses in report.losses.values() for v in losses)
    assert report.losses["mlm"][0] > 0  # words, not only [UNK]: something to predict
    return labeller, texts


@pytest.mark.parametrize("layout", ["joint", "per-finding"])
def test_saved_model_reloads_and_predicts_the_same(
    corpus: list[tuple[str, dict[str, State]]], layout: str, tmp_path: Path
) -> None:
    labeller, texts = _train(corpus, layout)
    assert labeller.layout == layout
    assert len(labeller.models) == (1 if layout == "joint" else len(FINDINGS))
    labeller.save(tmp_path / "model")
    again = BertLabeller.load(tmp_path / "model")
    assert again.version == "tiny" and again.findings == list(FINDINGS)
    assert again.source == "nlp"
    before = labeller.probabilities(texts[:10])
    after = again.probabilities(texts[:10])
    assert before.shape == (10, len(FINDINGS), len(STATES))
    assert torch.allclose(before, after, atol=1e-6)
    assert torch.allclose(after.sum(-1), torch.ones(10, len(FINDINGS)), atol=1e-5)
    labels = again.label_many(texts[:3])
    assert [set(row) for row in labels] == [set(FINDINGS)] * 3
    for row, probs in zip(labels, after[:3], strict=True):
        for key, p in zip(FINDINGS, probs, strict=True):
            assert row[key].state is STATES[int(p.argmax())]
            assert row[key].probability == pytest.approx(float(p[0]))


def test_tokenizer_keeps_the_reports_words(corpus: list[tuple[str, dict[str, State]]]) -> None:
    labeller, _ = _train(corpus, "joint")
    ids = labeller.encode(["Spondilolistesi di L4 su L5."])["input_ids"][0].tolist()
    tokenizer = labeller.tokenizer
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert tokenizer.unk_token_id not in ids[1:-1]


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(LabellerError, match="holds no saved BERT labeller"):
        BertLabeller.load(tmp_path)
    with pytest.raises(LabellerError, match="unknown layout"):
        train_bert(["a"], [None], [], [], FINDINGS, TrainingPlan(layout="twelve"), "x")
    with pytest.raises(LabellerError, match="no report text"):
        train_bert([], [], [], [], FINDINGS, TrainingPlan(), "x")


def test_state_targets_and_class_weights() -> None:
    findings = ["a", "b"]
    targets = encode_states(
        [
            {"a": State.POSITIVE, "b": State.NOT_MENTIONED},
            None,
            {"a": State.NEGATIVE, "b": State.NOT_MENTIONED},
            {"a": State.NEGATIVE, "b": State.UNCERTAIN},
        ],
        findings,
    )
    assert targets.tolist() == [[0, 3], [-100, -100], [1, 3], [1, 2]]
    weights = _class_weights(targets)
    # a: one positive, two negatives → the rare positive weighs twice the negative
    assert weights[0, 0] == pytest.approx(2 * weights[0, 1])
    assert weights[0, 2] == 0 and weights[0, 3] == 0  # states never seen


def test_starts_from_a_local_checkpoint_folder(
    corpus: list[tuple[str, dict[str, State]]], tmp_path: Path
) -> None:
    """``base_model``: a folder as bert-base-italian-uncased is shipped (config, weights, vocab)."""
    from transformers import BertModel

    trained, texts = _train(corpus, "joint")
    checkpoint = tmp_path / "bert-checkpoint"
    encoder = BertModel(TINY.config(len(trained.tokenizer)), add_pooling_layer=False)
    encoder.save_pretrained(str(checkpoint))
    trained.tokenizer.save_pretrained(str(checkpoint))
    plan = TrainingPlan(spec=TINY, base_model=checkpoint, weak_epochs=0, human_epochs=1)
    labeller, report = train_bert(
        [], [], texts[:40], [s for _, s in corpus[:40]], FINDINGS, plan, "from-checkpoint"
    )
    assert "mlm" not in report.losses  # the checkpoint's encoder is used as it is
    assert len(labeller.tokenizer) == len(trained.tokenizer)
    assert labeller.probabilities(texts[:2]).shape == (2, len(FINDINGS), len(STATES))
    with pytest.raises(LabellerError, match="absent is not a BERT checkpoint"):
        train_bert(
            [],
            [],
            texts[:4],
            [s for _, s in corpus[:4]],
            FINDINGS,
            TrainingPlan(spec=TINY, base_model=tmp_path / "absent"),
            "x",
        )
