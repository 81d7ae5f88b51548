"""trainer: images → model. Pixel cache, batches (uint8 to the device, augmented
there), ResNet-18, training loop, metrics, occlusion maps."""

from trainer.batches import BatchLoader, augment_batch, compose_batch
from trainer.cache import PixelCache, compose_rgb, resize_view
from trainer.config import TrainConfig
from trainer.engine import (
    Training,
    TrainResult,
    build,
    evaluate,
    fit,
    load_data,
    load_model,
    predict,
    resolve_device,
    resume,
    train_one_epoch,
)
from trainer.errors import CheckpointError, DeviceUnavailable, NotEnoughData, TrainerError
from trainer.files import PARTIAL_SUFFIX, write_atomically
from trainer.metrics import (
    FindingMetrics,
    auc_interval,
    finding_metrics,
    stratified_auc,
    youden_threshold,
)
from trainer.model import build_model
from trainer.occlusion import default_patch, occlusion_maps, render_occlusion
from trainer.shards import ShardStore

__all__ = [
    "PARTIAL_SUFFIX",
    "BatchLoader",
    "CheckpointError",
    "DeviceUnavailable",
    "FindingMetrics",
    "NotEnoughData",
    "PixelCache",
    "ShardStore",
    "TrainConfig",
    "TrainResult",
    "TrainerError",
    "Training",
    "auc_interval",
    "augment_batch",
    "build",
    "build_model",
    "compose_batch",
    "compose_rgb",
    "default_patch",
    "evaluate",
    "finding_metrics",
    "fit",
    "load_data",
    "load_model",
    "occlusion_maps",
    "predict",
    "render_occlusion",
    "resize_view",
    "resolve_device",
    "resume",
    "stratified_auc",
    "train_one_epoch",
    "write_atomically",
    "youden_threshold",
]
