"""The loop's stages, each a plain function of the :class:`~pacslabel.context.Context`."""

from pacslabel.stages.images import cache_all, current_model, predict_all
from pacslabel.stages.ingest import anonymise_all
from pacslabel.stages.label import label_all
from pacslabel.stages.retrieval import DiscoverResult, discover, in_window, retrieve
from pacslabel.stages.train import TrainOutcome, train
from pacslabel.stages.writeback import writeback_all

__all__ = [
    "DiscoverResult",
    "TrainOutcome",
    "anonymise_all",
    "cache_all",
    "current_model",
    "discover",
    "in_window",
    "label_all",
    "predict_all",
    "retrieve",
    "train",
    "writeback_all",
]
