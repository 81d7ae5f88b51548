"""The loop's stages, each a plain function of the :class:`~pacslabel.context.Context`
that works on the studies in the state it consumes (:mod:`pacslabel.pipeline.loop`
composes them)."""

from pacslabel.pipeline.stages.cache import cache_all
from pacslabel.pipeline.stages.deidentify import deidentify_all, deidentify_study
from pacslabel.pipeline.stages.label import add_labels, label_all
from pacslabel.pipeline.stages.predict import predict_all
from pacslabel.pipeline.stages.retrieval import (
    DiscoverResult,
    adopt_pushed,
    discover,
    in_window,
    record_refusals,
    retrieve,
)
from pacslabel.pipeline.stages.train import TrainOutcome, TrainStatus, corpus_targets, train_model
from pacslabel.pipeline.stages.waiting import expire_or_attach, recheck_waiting
from pacslabel.pipeline.stages.writeback import writeback_all

__all__ = [
    "DiscoverResult",
    "TrainOutcome",
    "TrainStatus",
    "add_labels",
    "adopt_pushed",
    "cache_all",
    "corpus_targets",
    "deidentify_all",
    "deidentify_study",
    "discover",
    "expire_or_attach",
    "in_window",
    "label_all",
    "predict_all",
    "recheck_waiting",
    "record_refusals",
    "retrieve",
    "train_model",
    "writeback_all",
]
