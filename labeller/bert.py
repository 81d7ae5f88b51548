"""The BERT labeller: report text → four states per finding, with one model (or twelve).

Layouts
-------
``joint`` (default)
    One encoder, one head of ``4 × findings`` logits: a softmax over the four
    states of each finding. One pass labels every finding.
``per-finding``
    One encoder and four-state head per finding, as the reference study's
    twelve classifiers (kept for comparison: twelve passes per report).

Starting points: a local checkpoint folder (a copy of bert-base-italian-uncased,
say — read with ``local_files_only``, never downloaded) or, by default, a
compact BERT whose WordPiece vocabulary and masked-language-model pretraining
come from the hospital's own (de-identified) reports (:mod:`labeller.training`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from labeller.errors import LabellerError
from labeller.normalise import normalise_report
from labeller.states import FindingReading, State

__all__ = ["STATES", "BertLabeller", "CompactBert", "FourStateModel"]

#: The order of the four states in every head.
STATES = (State.POSITIVE, State.NEGATIVE, State.UNCERTAIN, State.NOT_MENTIONED)


@dataclass(frozen=True, slots=True)
class CompactBert:
    """Size of the default, from-scratch BERT (fast enough for ≥ 200 reports/s on 2 cores)."""

    vocab_size: int = 4000
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 512
    max_length: int = 192

    def config(self, vocab_size: int) -> Any:
        from transformers import BertConfig

        return BertConfig(
            vocab_size=vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=max(self.max_length, 64),
            hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1,
        )


class FourStateModel(nn.Module):
    """A BERT encoder and a linear head of ``heads × 4`` logits on the [CLS] token."""

    def __init__(self, encoder: nn.Module, hidden_size: int, heads: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(hidden_size, heads * len(STATES))
        self.heads = heads

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        cls = output.last_hidden_state[:, 0]
        return self.head(self.dropout(cls)).view(-1, self.heads, len(STATES))


class BertLabeller:
    """Labels reports with trained four-state models.

    Parameters
    ----------
    models
        One model (joint layout, one head per finding) or one model per finding.
    tokenizer
        The WordPiece tokenizer the models were trained with.
    findings
        The findings, in head order.
    version
        Identifies the model: stored as the source version of its labels.
    """

    def __init__(
        self,
        models: Sequence[FourStateModel],
        tokenizer: Any,
        findings: Sequence[str],
        version: str,
        max_length: int = 192,
    ) -> None:
        if len(models) not in (1, len(findings)):
            raise LabellerError(f"{len(models)} models for {len(findings)} findings")
        self.models = list(models)
        self.tokenizer = tokenizer
        self.findings = list(findings)
        self.version = version
        self.max_length = max_length
        for model in self.models:
            model.eval()

    @property
    def source(self) -> str:
        return "nlp"

    @property
    def layout(self) -> str:
        return "joint" if len(self.models) == 1 else "per-finding"

    def encode(self, reports: Sequence[str]) -> dict[str, torch.Tensor]:
        texts = [normalise_report(report) for report in reports]
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    @torch.inference_mode()
    def probabilities(self, reports: Sequence[str]) -> torch.Tensor:
        """``(reports, findings, 4)`` state probabilities."""
        batch = self.encode(reports)
        if self.layout == "joint":
            return torch.softmax(self.models[0](**batch), dim=-1)
        return torch.cat([torch.softmax(model(**batch), dim=-1) for model in self.models], dim=1)

    def label_many(
        self, reports: Sequence[str], batch_size: int = 64
    ) -> list[dict[str, FindingReading]]:
        """Label reports; each label's probability is that of the finding being present."""
        out: list[dict[str, FindingReading]] = []
        for start in range(0, len(reports), batch_size):
            probs = self.probabilities(reports[start : start + batch_size])
            for row in probs:
                labels = {}
                for key, p in zip(self.findings, row, strict=True):
                    state = STATES[int(p.argmax())]
                    labels[key] = FindingReading(key, state, probability=float(p[0]))
                out.append(labels)
        return out

    def label(self, report: str) -> dict[str, FindingReading]:
        return self.label_many([report])[0]

    def save(self, folder: Path) -> None:
        """Write the tokenizer, the models' weights and the metadata under ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(str(folder / "tokenizer"))
        for index, model in enumerate(self.models):
            config: Any = model.encoder.config
            config.save_pretrained(str(folder / f"model-{index}"))
            torch.save(model.state_dict(), folder / f"model-{index}" / "weights.pt")
        meta = {
            "findings": self.findings,
            "version": self.version,
            "layout": self.layout,
            "models": len(self.models),
            "max_length": self.max_length,
        }
        (folder / "labeller.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> BertLabeller:
        """Read a labeller written by :meth:`save`.

        Raises
        ------
        LabellerError
            The folder is not a saved BERT labeller.
        """
        meta_path = folder / "labeller.json"
        if not meta_path.is_file():
            raise LabellerError(f"{folder} holds no saved BERT labeller")
        from transformers import BertConfig, BertModel, BertTokenizerFast

        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        tokenizer = BertTokenizerFast.from_pretrained(
            str(folder / "tokenizer"), local_files_only=True
        )
        heads = len(meta["findings"]) if meta["models"] == 1 else 1
        models = []
        for index in range(meta["models"]):
            config = BertConfig.from_pretrained(
                str(folder / f"model-{index}"), local_files_only=True
            )
            model = FourStateModel(
                BertModel(config, add_pooling_layer=False), config.hidden_size, heads
            )
            state = torch.load(
                folder / f"model-{index}" / "weights.pt", map_location="cpu", weights_only=True
            )
            model.load_state_dict(state)
            models.append(model)
        return cls(models, tokenizer, meta["findings"], meta["version"], meta["max_length"])
