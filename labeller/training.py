"""Training the BERT labeller: vocabulary, pretraining, weak labels, human labels.

1. A WordPiece vocabulary learnt from the hospital's own reports (``tokenizers``),
   or the tokenizer of a local checkpoint.
2. Masked-language-model pretraining of a compact BERT on those reports, or the
   encoder of the local checkpoint.
3. Fine-tuning on the rule labeller's labels of the whole corpus (weak supervision).
4. Fine-tuning on the human-annotated reports, with class weights against the
   imbalance of the states and early stopping on a held-out part of them.
"""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from labeller.bert import STATES, BertLabeller, CompactBert, FourStateModel
from labeller.errors import LabellerError
from labeller.normalise import normalise_report
from labeller.states import State

__all__ = ["TrainingPlan", "TrainingReport", "encode_states", "train_bert"]

logger = logging.getLogger(__name__)

EpochCallback = Callable[[str, int, int], None]
"""Called after each epoch with (phase, epoch, epochs of the phase)."""
"""Called with (phase, epoch, epochs)."""


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    """How to train (every field a choice the model registry records)."""

    spec: CompactBert = field(default_factory=CompactBert)
    base_model: Path | None = None
    """A local BERT checkpoint folder (e.g. bert-base-italian-uncased); never downloaded."""
    layout: str = "joint"
    mlm_epochs: int = 3
    weak_epochs: int = 2
    human_epochs: int = 10
    patience: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-4
    validation_fraction: float = 0.15
    seed: int = 0


@dataclass
class TrainingReport:
    losses: dict[str, list[float]] = field(default_factory=dict)
    best_validation_loss: float | None = None
    stopped_after: int = 0


def encode_states(
    labels: Sequence[dict[str, State] | None], findings: Sequence[str]
) -> torch.Tensor:
    """``(reports, findings)`` state indices; ``-100`` where a label is missing."""
    rows = []
    for label in labels:
        if label is None:
            rows.append([-100] * len(findings))
        else:
            rows.append([STATES.index(label[key]) if key in label else -100 for key in findings])
    return torch.tensor(rows, dtype=torch.long)


def _tokenizer(texts: Sequence[str], plan: TrainingPlan) -> Any:
    from transformers import BertTokenizerFast

    if plan.base_model is not None:
        if not (plan.base_model / "config.json").is_file():
            folder = plan.base_model
            raise LabellerError(f"{folder} is not a BERT checkpoint folder (no config.json)")
        return BertTokenizerFast.from_pretrained(str(plan.base_model), local_files_only=True)
    from tokenizers import BertWordPieceTokenizer, processors
    from transformers import PreTrainedTokenizerFast

    wordpiece = BertWordPieceTokenizer(lowercase=True, strip_accents=False, clean_text=True)
    wordpiece.train_from_iterator(list(texts), vocab_size=plan.spec.vocab_size, min_frequency=2)
    backend = wordpiece._tokenizer
    backend.post_processor = processors.BertProcessing(
        ("[SEP]", backend.token_to_id("[SEP]")), ("[CLS]", backend.token_to_id("[CLS]"))
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=plan.spec.max_length,
    )


def _batches(size: int, batch: int, rng: random.Random | None = None) -> list[list[int]]:
    """Index batches, shuffled by ``rng`` when given."""
    order = list(range(size))
    if rng is not None:
        rng.shuffle(order)
    return [order[i : i + batch] for i in range(0, size, batch)]


def _encode(tokenizer: Any, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    batch = tokenizer(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def _pretrain(
    tokenizer: Any,
    texts: Sequence[str],
    plan: TrainingPlan,
    progress: EpochCallback | None,
    report: TrainingReport,
    rng: random.Random,
) -> nn.Module:
    from transformers import BertForMaskedLM, BertModel

    if plan.base_model is not None:
        return BertModel.from_pretrained(
            str(plan.base_model), local_files_only=True, add_pooling_layer=False
        )
    mlm = BertForMaskedLM(plan.spec.config(len(tokenizer)))
    optimiser = torch.optim.AdamW(mlm.parameters(), lr=plan.learning_rate)
    special = torch.tensor(sorted(tokenizer.all_special_ids))
    losses = []
    for epoch in range(plan.mlm_epochs):
        mlm.train()
        total = 0.0
        for chunk in _batches(len(texts), plan.batch_size, rng):
            batch = _encode(tokenizer, [texts[i] for i in chunk], plan.spec.max_length)
            ids = batch["input_ids"].clone()
            labels = ids.clone()
            candidates = ~torch.isin(ids, special) & batch["attention_mask"].bool()
            masked = (torch.rand(ids.shape) < 0.15) & candidates
            if not masked.any():
                continue  # nothing to predict: the loss would be 0/0
            labels[~masked] = -100
            replace = masked & (torch.rand(ids.shape) < 0.8)
            ids[replace] = tokenizer.mask_token_id
            scramble = masked & ~replace & (torch.rand(ids.shape) < 0.5)
            ids[scramble] = torch.randint(len(tokenizer), (int(scramble.sum()),))
            loss = mlm(input_ids=ids, attention_mask=batch["attention_mask"], labels=labels).loss
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(mlm.parameters(), 1.0)
            optimiser.step()
            total += float(loss.detach())
        losses.append(total / max(len(texts) // plan.batch_size, 1))
        if progress is not None:
            progress("pretraining (masked language model)", epoch + 1, plan.mlm_epochs)
    report.losses["mlm"] = losses
    return mlm.bert


def _class_weights(targets: torch.Tensor) -> torch.Tensor:
    """Per finding and state: inverse frequency, normalised to mean 1 over the states seen."""
    weights = torch.ones(targets.shape[1], len(STATES))
    for j in range(targets.shape[1]):
        column = targets[:, j]
        column = column[column >= 0]
        counts = torch.bincount(column, minlength=len(STATES)).float()
        present = counts > 0
        if present.any():
            inverse = torch.where(present, counts.sum() / counts.clamp(min=1), torch.zeros(1))
            weights[j] = inverse / inverse[present].mean()
    return weights.clamp(max=10.0)


def _loss(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None
) -> torch.Tensor:
    log_p = torch.log_softmax(logits, dim=-1)
    valid = targets >= 0
    safe = targets.clamp(min=0)
    picked = -log_p.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    if weights is not None:
        columns = torch.arange(targets.shape[1]).expand_as(targets)
        picked = picked * weights[columns, safe]
    return (picked * valid).sum() / valid.sum().clamp(min=1)


def _fit(
    models: list[FourStateModel],
    tokenizer: Any,
    texts: Sequence[str],
    targets: torch.Tensor,
    plan: TrainingPlan,
    epochs: int,
    weights: torch.Tensor | None,
    validation: tuple[Sequence[str], torch.Tensor] | None,
    phase: str,
    progress: EpochCallback | None,
    report: TrainingReport,
    rng: random.Random,
) -> None:
    parameters = [p for model in models for p in model.parameters()]
    optimiser = torch.optim.AdamW(parameters, lr=plan.learning_rate, weight_decay=0.01)
    best, best_state, patience = float("inf"), None, plan.patience
    losses = []
    for epoch in range(epochs):
        for model in models:
            model.train()
        total = 0.0
        for chunk in _batches(len(texts), plan.batch_size, rng):
            batch = _encode(tokenizer, [texts[i] for i in chunk], plan.spec.max_length)
            logits = torch.cat([model(**batch) for model in models], dim=1)
            loss = _loss(logits, targets[chunk], weights)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(parameters, 1.0)
            optimiser.step()
            total += float(loss.detach()) * len(chunk)
        losses.append(total / max(len(texts), 1))
        if progress is not None:
            progress(phase, epoch + 1, epochs)
        if validation is None:
            continue
        val_loss = _evaluate(models, tokenizer, validation, plan, weights)
        if val_loss < best - 1e-4:
            best, best_state, patience = (
                val_loss,
                [copy.deepcopy(m.state_dict()) for m in models],
                plan.patience,
            )
        else:
            patience -= 1
            if patience <= 0:
                report.stopped_after = epoch + 1
                break
    report.losses[phase] = losses
    if best_state is not None:
        for model, state in zip(models, best_state, strict=True):
            model.load_state_dict(state)
        report.best_validation_loss = best


@torch.no_grad()
def _evaluate(
    models: list[FourStateModel],
    tokenizer: Any,
    validation: tuple[Sequence[str], torch.Tensor],
    plan: TrainingPlan,
    weights: torch.Tensor | None,
) -> float:
    texts, targets = validation
    for model in models:
        model.eval()
    total = 0.0
    for chunk in _batches(len(texts), plan.batch_size):
        batch = _encode(tokenizer, [texts[i] for i in chunk], plan.spec.max_length)
        logits = torch.cat([model(**batch) for model in models], dim=1)
        total += float(_loss(logits, targets[chunk], weights)) * len(chunk)
    return total / max(len(texts), 1)


def train_bert(
    corpus: Sequence[str],
    weak_labels: Sequence[dict[str, State] | None],
    human_texts: Sequence[str],
    human_labels: Sequence[dict[str, State]],
    findings: Sequence[str],
    plan: TrainingPlan,
    version: str,
    progress: EpochCallback | None = None,
) -> tuple[BertLabeller, TrainingReport]:
    """Train a BERT labeller (see the module doc for the steps).

    Parameters
    ----------
    corpus
        De-identified report texts: the vocabulary, the pretraining and the weak labels.
    weak_labels
        The rule labeller's states for each corpus report (``None``: not labelled).
    human_texts, human_labels
        Human-annotated reports (four states per finding).

    Raises
    ------
    LabellerError
        An unknown layout, or no text to learn from.
    """
    if plan.layout not in ("joint", "per-finding"):
        raise LabellerError(f"unknown layout {plan.layout!r}: joint or per-finding")
    if not corpus and not human_texts:
        raise LabellerError("no report text to train on")
    # Seeded weights, masks and dropout without touching the caller's random state.
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
        torch.manual_seed(plan.seed)
        return _train(
            corpus, weak_labels, (human_texts, human_labels), findings, plan, version, progress
        )


def _train(
    corpus: Sequence[str],
    weak_labels: Sequence[dict[str, State] | None],
    human_set: tuple[Sequence[str], Sequence[dict[str, State]]],
    findings: Sequence[str],
    plan: TrainingPlan,
    version: str,
    progress: EpochCallback | None,
) -> tuple[BertLabeller, TrainingReport]:
    human_texts, human_labels = human_set
    rng = random.Random(plan.seed)
    report = TrainingReport()
    texts = [normalise_report(t) for t in corpus]
    human = [normalise_report(t) for t in human_texts]
    tokenizer = _tokenizer(texts + human, plan)
    encoder = _pretrain(tokenizer, texts + human, plan, progress, report, rng)
    config: Any = encoder.config
    hidden = int(config.hidden_size)
    if plan.layout == "joint":
        models = [FourStateModel(encoder, hidden, len(findings))]
    else:
        models = [FourStateModel(copy.deepcopy(encoder), hidden, 1) for _ in findings]
    if texts and plan.weak_epochs:
        weak = encode_states(weak_labels, findings)
        _fit(
            models,
            tokenizer,
            texts,
            weak,
            plan,
            plan.weak_epochs,
            None,
            None,
            "fine-tuning on rule labels",
            progress,
            report,
            rng,
        )
    if human and plan.human_epochs:
        targets = encode_states(human_labels, findings)
        order = list(range(len(human)))
        random.Random(plan.seed).shuffle(order)
        cut = int(len(order) * plan.validation_fraction) if len(order) >= 10 else 0
        val, train = order[:cut], order[cut:]
        weights = _class_weights(targets[train])
        validation = ([human[i] for i in val], targets[val]) if val else None
        _fit(
            models,
            tokenizer,
            [human[i] for i in train],
            targets[train],
            plan,
            plan.human_epochs,
            weights,
            validation,
            "fine-tuning on human labels",
            progress,
            report,
            rng,
        )
    labeller = BertLabeller(models, tokenizer, findings, version, plan.spec.max_length)
    return labeller, report
