"""``pacslabel demo``: the whole loop once, against the simulated hospital."""

from __future__ import annotations

import argparse

from pacslabel.cli.output import Output, Subcommands, ingest_exit, print_run
from pacslabel.settings import Settings
from pacslabel.tools.demo import DemoOptions, run_demo
from pacslabel.tools.summary import CorpusSummary

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("demo", help="run the loop once against a simulated PACS")
    parser.add_argument("--studies", type=int, default=DemoOptions.studies)
    parser.add_argument("--seed", type=int, default=DemoOptions.seed)
    parser.add_argument("--image-size", type=int, default=DemoOptions.image_size)
    parser.add_argument("--epochs", type=int, default=DemoOptions.epochs)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    options = DemoOptions(
        studies=args.studies, seed=args.seed, image_size=args.image_size, epochs=args.epochs
    )
    report, summary = run_demo(settings, options, out.progress)
    print_run(out, report, summary)
    for line in what_the_aucs_rest_on(summary, options):
        out.print(line, markup=False)
    return ingest_exit(report)


#: Fewer positives than this among the held-out studies: an AUC that says little.
FEW_POSITIVES = 10


def what_the_aucs_rest_on(summary: CorpusSummary, options: DemoOptions) -> list[str]:
    """The demo's last lines: how many held-out studies and positives each AUC of the table
    rests on, and where the figures of a corpus of realistic size are, so that a first
    user does not read an AUC near 0.5 as a fault."""
    if not summary.held_out:
        return ["No model was trained, so the table has no AUC."]
    counts = [(m.get("n", 0), m.get("positives", 0)) for m in summary.held_out.values()]
    studies = max(n for n, _ in counts)
    few = sum(positives < FEW_POSITIVES for _, positives in counts)
    return [
        f"Each AUC is the model's on {studies} held-out studies (column n (pos): studies and "
        f"positives among them); {few} of {len(counts)} findings have fewer than "
        f"{FEW_POSITIVES} positives there, so their AUC can move by 0.1 or more with one study.",
        f"A demo model learns from a corpus of {summary.studies} studies at "
        f"{options.image_size} px for {options.epochs} epochs on a CPU: AUCs near 0.5 are "
        "what that size gives, not a fault. The same ResNet-18 trained on 4,800 simulated "
        "studies is measured in BENCHMARKS.md (section 'ResNet-18 on simulated images').",
    ]
