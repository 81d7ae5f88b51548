"""Everything that determines a training run, in one place.

:class:`TrainConfig` is saved in every checkpoint, and the ``python -m trainer``
command line is generated from it: :meth:`TrainConfig.add_arguments` adds one
option per field (its flag, type, choices and help are the field's own) and
:meth:`TrainConfig.command_args` writes a configuration back as those options,
so that ``TrainConfig.from_args(parser.parse_args(config.command_args()))``
gives the same configuration again. A configuration is checked when it is made.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_type_hints

import torch

from trainer.cache import PAPER_CHANNELS

__all__ = ["LrSchedule", "Precision", "TrainConfig"]

LrSchedule = Literal["constant", "cosine"]
Precision = Literal["auto", "fp32", "bf16"]


def _cli(flag: str, help: str, **argparse_options: Any) -> dict[str, Any]:
    """The metadata of a field of :class:`TrainConfig`: its command-line option."""
    return {"flag": flag, "help": help, **argparse_options}


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything that determines a training run (saved in every checkpoint).

    Raises
    ------
    ValueError
        A value out of its range or not one of its choices (named in the message).
    """

    findings: tuple[str, ...]
    """The model's outputs, in order (``python -m trainer`` reads them from the targets)."""
    image_size: int = field(
        default=512, metadata=_cli("--size", "side of the cached pairs, in pixels")
    )
    epochs: int = field(default=30, metadata=_cli("--epochs", "passes over the training studies"))
    batch_size: int = field(
        default=32, metadata=_cli("--batch-size", "the global batch (shared by processes)")
    )
    learning_rate: float = field(default=0.001, metadata=_cli("--lr", "SGD learning rate"))
    momentum: float = field(default=0.9, metadata=_cli("--momentum", "SGD momentum"))
    weight_decay: float = field(default=1e-4, metadata=_cli("--weight-decay", "SGD weight decay"))
    seed: int = field(
        default=0, metadata=_cli("--seed", "initial weights, order and augmentations")
    )
    augment: bool = field(
        default=True,
        metadata=_cli("--no-augment", "no flips, noise, blur or contrast", negate=True),
    )
    device: str = field(
        default="auto", metadata=_cli("--device", "auto (CUDA when present), cpu, cuda, cuda:N")
    )
    """Checked where it is used (:func:`~trainer.resolve_device`), which says what is there."""
    pretrained_weights: str | None = field(
        default=None,
        metadata=_cli("--weights", "a local ResNet-18 ImageNet state dict (never downloaded)"),
    )
    lr_schedule: LrSchedule = field(
        default="cosine",
        metadata=_cli("--lr-schedule", "constant (the paper) or cosine decay over the epochs"),
    )
    channels: tuple[int, int] = field(
        default=PAPER_CHANNELS,
        metadata=_cli(
            "--channels",
            "input channels of the AP and the lateral view (0 red, 1 green, 2 blue)",
            nargs=2,
            metavar=("AP", "LAT"),
        ),
    )
    precision: Precision = field(
        default="auto",
        metadata=_cli("--precision", "auto (bf16 autocast on CUDA, fp32 on a CPU), fp32 or bf16"),
    )
    compile: bool = field(
        default=False, metadata=_cli("--compile", "torch.compile the model (a GPU, long runs)")
    )
    scale_learning_rate: bool = field(
        default=False, metadata=_cli("--scale-lr", "lr × batch size / 32")
    )
    workers: int = field(
        default=0, metadata=_cli("--workers", "DataLoader processes reading the cache")
    )
    init_checkpoint: str | None = field(
        default=None,
        metadata=_cli("--init", "a pacslabel checkpoint to start from (fine-tuning, warm starts)"),
    )

    def __post_init__(self) -> None:
        problems = [
            f"{name} = {getattr(self, name)!r}: {why}" for name, why in self._problems() if why
        ]
        if problems:
            raise ValueError("invalid training configuration: " + "; ".join(problems))

    def _problems(self) -> list[tuple[str, str]]:
        size_ok = self.image_size >= 16
        return [
            ("findings", "" if self.findings else "no finding"),
            ("image_size", "" if size_ok else "at least 16 pixels"),
            ("epochs", "" if self.epochs >= 1 else "at least 1"),
            ("batch_size", "" if self.batch_size >= 1 else "at least 1"),
            ("learning_rate", "" if self.learning_rate > 0 else "must be positive"),
            ("momentum", "" if 0 <= self.momentum < 1 else "in [0, 1)"),
            ("weight_decay", "" if self.weight_decay >= 0 else "not negative"),
            ("workers", "" if self.workers >= 0 else "not negative"),
            ("lr_schedule", _choice(self.lr_schedule, LrSchedule)),
            ("precision", _choice(self.precision, Precision)),
            ("channels", _channels(self.channels)),
        ]

    @property
    def effective_learning_rate(self) -> float:
        if self.scale_learning_rate:
            return self.learning_rate * self.batch_size / 32
        return self.learning_rate

    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        """The autocast type on ``device``, or None for fp32."""
        if self.precision == "bf16" or (self.precision == "auto" and device.type == "cuda"):
            return torch.bfloat16
        return None

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["findings"] = list(self.findings)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The inverse of :meth:`as_dict` (a checkpoint written before ``channels``
        existed used the paper's)."""
        raw = dict(data)
        raw["findings"] = tuple(raw["findings"])
        raw["channels"] = tuple(raw.get("channels", PAPER_CHANNELS))
        return cls(**raw)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One option per field but ``findings``, with the field's default."""
        hints = _hints()
        for item in dataclasses.fields(cls):
            if "flag" not in item.metadata:
                continue
            meta = dict(item.metadata)
            flag, negate = meta.pop("flag"), meta.pop("negate", False)
            kind = hints[item.name]
            options: dict[str, Any] = {"dest": item.name, **meta}
            if kind is bool:
                options.update(action="store_false" if negate else "store_true")
            else:
                options.update(default=item.default, type=_scalar(kind))
                if get_args(kind) and all(isinstance(a, str) for a in get_args(kind)):
                    options["choices"] = list(get_args(kind))
            parser.add_argument(flag, **options)

    @classmethod
    def from_args(cls, args: argparse.Namespace, findings: tuple[str, ...]) -> TrainConfig:
        """The configuration a parsed ``python -m trainer`` command line says."""
        values = {
            item.name: getattr(args, item.name)
            for item in dataclasses.fields(cls)
            if "flag" in item.metadata
        }
        values["channels"] = tuple(values["channels"])
        return cls(findings=tuple(findings), **values)

    def command_args(self) -> list[str]:
        """This configuration as ``python -m trainer`` options (defaults included, so the
        command says everything even if a default changes later)."""
        args: list[str] = []
        for item in dataclasses.fields(self):
            if "flag" not in item.metadata:
                continue
            value, flag = getattr(self, item.name), item.metadata["flag"]
            if isinstance(value, bool):
                if value != item.metadata.get("negate", False):
                    args.append(flag)
            elif value is None:
                continue
            elif isinstance(value, tuple):
                args += [flag, *map(str, value)]
            else:
                args += [flag, repr(value) if isinstance(value, float) else str(value)]
        return args


def _choice(value: str, kind: Any) -> str:
    choices = get_args(kind)
    return "" if value in choices else f"one of {', '.join(choices)}"


def _channels(channels: tuple[int, int]) -> str:
    ok = len(channels) == 2 and len(set(channels)) == 2 and all(c in (0, 1, 2) for c in channels)
    return "" if ok else "two different channels of 0, 1, 2"


def _hints() -> dict[str, Any]:
    return get_type_hints(TrainConfig)


def _scalar(kind: Any) -> Any:
    """The argparse type of a field's annotation (``int | None`` → int, a Literal → str)."""
    args = [a for a in get_args(kind) if a is not type(None)]
    if kind in (int, float, str):
        return kind
    if args and all(isinstance(a, str) for a in args):
        return str
    if args and args[0] is int:  # tuple[int, int]
        return int
    return args[0] if args else str
