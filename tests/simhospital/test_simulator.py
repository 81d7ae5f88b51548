"""The simulated hospital: valid DICOM of every kind, ground truth, reports and their noise."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import taskfile
from pydicom import dcmread

from pacsbridge import ViewInfo, is_report, pair_views, report_text
from simhospital import (
    FINDINGS,
    AnnotationPlan,
    NoiseRates,
    assign_sets,
    codice_fiscale,
    generate_study,
    render_gallery,
    write_archive,
    write_study,
)
from simhospital.imaging.anatomy import build_spine
from simhospital.imaging.vendors import VENDORS
from simhospital.reports import write_report
from simhospital.truth.findings import Truth, draw_findings

VARIANTS = [
    (vendor.manufacturer, syntax) for vendor in VENDORS for syntax, _ in vendor.transfer_syntaxes
]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _dciodvfy_errors(path: Path) -> list[str]:
    if shutil.which("dciodvfy") is None:
        pytest.fail("dciodvfy is not installed: run scripts/ensure-tools")
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [
        line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")
    ]


@pytest.mark.parametrize(("vendor", "syntax"), VARIANTS)
def test_every_vendor_and_transfer_syntax_is_valid_dicom(
    tmp_path: Path, vendor: str, syntax: str
) -> None:
    study = generate_study(3, seed=11, scale=0.15, vendor_name=vendor, transfer_syntax=syntax)
    for path in write_study(study, tmp_path):
        ds = dcmread(path)
        assert _dciodvfy_errors(path) == [], path.name
        if is_report(ds):  # an SR holds the text as written; a PDF page adds a letterhead
            assert " ".join(study.report_text.split()) in " ".join(report_text(ds).split())
            continue
        assert ds.file_meta.TransferSyntaxUID == syntax
        pixels = ds.pixel_array  # decodes JPEG-LS and JPEG 2000 too
        assert pixels.shape == (ds.Rows, ds.Columns)
        assert int(pixels.max()) < 2**ds.BitsStored and pixels.std() > 0
        assert ds.Manufacturer == vendor
        assert ds.PhotometricInterpretation in ("MONOCHROME1", "MONOCHROME2")


def test_realistic_sizes_at_full_scale() -> None:
    study = generate_study(0, seed=2)
    images = [ds for ds in study.datasets if not is_report(ds)]
    for ds in images:
        assert 2000 <= ds.Rows <= 3000 and 1500 <= ds.Columns <= 3000
        spacing = float(ds.ImagerPixelSpacing[0])
        assert 0.1 <= spacing <= 0.25
        assert 330 <= ds.Rows * spacing <= 450  # a lumbar field of view, in mm


def test_deterministic_by_seed() -> None:
    first, again = generate_study(5, seed=9, scale=0.1), generate_study(5, seed=9, scale=0.1)
    assert first.report_text == again.report_text
    assert first.datasets[0].PixelData == again.datasets[0].PixelData
    assert generate_study(5, seed=10, scale=0.1).study_instance_uid != first.study_instance_uid


def test_archive_on_disk_reads_back_with_its_truth(tmp_path: Path) -> None:
    summary = write_archive(tmp_path, 30, seed=4, scale=0.1, workers=2)
    files = sorted(summary.dicom_dir.rglob("*.dcm"))
    assert len(files) == summary.instances > 60
    rules = taskfile.view_rules()
    studies = {r["study_instance_uid"]: r for r in _csv(summary.truth_dir / "studies.csv")}
    assert len(studies) == 30
    syntaxes = set()
    for folder in summary.dicom_dir.iterdir():
        views = []
        for path in folder.glob("*.dcm"):
            ds = dcmread(path)
            syntaxes.add(str(ds.file_meta.TransferSyntaxUID))
            if not is_report(ds):
                assert ds.pixel_array.size == ds.Rows * ds.Columns
                views.append(ViewInfo.from_dataset(ds))
        row = studies[folder.name]
        assert len(views) == len(row["views"].split(";"))
        pair = pair_views(views, rules)  # the standing views, never the dynamic ones
        assert (pair.ap_sop_instance_uid, pair.lateral_sop_instance_uid) == (
            row["ap_sop_instance_uid"],
            row["lateral_sop_instance_uid"],
        )
    assert len(syntaxes) >= 2
    image = _csv(summary.truth_dir / "image_truth.csv")
    for row in image:
        for key in ("anterolisthesis", "retrolisthesis"):  # standing shows at most the disease
            assert int(row[key]) <= max(int(row[f"disease_{key}"]), 0) or int(row[key]) == 0
    reports = {r["study_instance_uid"]: r["text"] for r in _csv(summary.truth_dir / "reports.csv")}
    for row in _csv(summary.truth_dir / "identifiers.csv"):
        assert row["value"].upper() in reports[row["study_instance_uid"]].upper()
    states = _csv(summary.truth_dir / "report_truth.csv")
    assert {row[key] for row in states for key in FINDINGS} <= {
        "positive",
        "negative",
        "uncertain",
        "not_mentioned",
    }
    sets = {row["annotation_set"] for row in studies.values()}
    assert sets == {"report_train", "report_test", "image_tuning", "image_test", "corpus"}
    tuning = _csv(summary.truth_dir / "annotations" / "image_tuning.csv")
    assert tuning and {row["instrumentation"] for row in tuning} <= {"0", "1"}


def test_annotation_sets_follow_the_paper() -> None:
    sets = assign_sets(14777, seed=0)
    assert sets.count("report_train") == 4288 and sets.count("report_test") == 202
    assert sets.count("image_tuning") == 481 and sets.count("image_test") == 204
    custom = assign_sets(100, 0, AnnotationPlan(0.5, 0.1, 0.1, 0.1))
    assert custom.count("report_train") == 50 and custom.count("corpus") == 20


def test_findings_co_occur_like_degenerative_disease() -> None:
    rng = np.random.default_rng(11)
    truths = [draw_findings(rng) for _ in range(6000)]

    def share(key: str, group: list[Truth]) -> float:
        return sum(t.present(key) for t in group) / len(group)

    young = [t for t in truths if t.age < 45]
    old = [t for t in truths if t.age >= 70]
    for key in ("osteophytosis", "disc_narrowing", "diffuse_degeneration", "osteoporosis"):
        assert share(key, old) > 1.5 * share(key, young), key
    retro = [t for t in truths if t.present("retrolisthesis")]
    others = [t for t in truths if not t.present("retrolisthesis")]
    same_level = sum(
        t.present("disc_narrowing") and t.level["disc_narrowing"] == t.level["retrolisthesis"]
        for t in retro
    ) / len(retro)
    assert same_level > 0.6  # the slipped vertebra's own disc has lost height
    assert share("disc_narrowing", retro) > share("disc_narrowing", others) + 0.2
    case = next(t for t in retro if t.level["disc_narrowing"] == t.level["retrolisthesis"])
    intact = dataclasses.replace(case, severity={**case.severity, "disc_narrowing": 0})
    k = case.level["retrolisthesis"] + 1  # the slipped vertebra and the disc under it
    narrowed = build_spine(case, np.random.default_rng(1), (400.0, 330.0))
    normal = build_spine(intact, np.random.default_rng(1), (400.0, 330.0))
    assert narrowed.slips[k] < 0 and narrowed.discs[k] < 0.9 * normal.discs[k]


def _draft(seed: int, noise: NoiseRates, seen: dict[str, int]):  # type: ignore[no-untyped-def]
    return write_report(
        seen,
        {},
        np.random.default_rng(seed),
        family="ROSSI",
        given="MARIO",
        birth=dt.date(1950, 1, 2),
        sex="M",
        study_date=dt.date(2017, 3, 4),
        noise=noise,
    )


def test_noise_rates_shape_the_reports() -> None:
    everything = dict.fromkeys(FINDINGS, 2)
    everything["instrumentation"] = 0  # no post-operative reports here
    quiet = NoiseRates(
        omit_present=dict.fromkeys(FINDINGS, 0.0),
        hedge_present=0.0,
        wrong_report=0.0,
        typo_per_word=0.0,
        speech_error_per_term=0.0,
    )
    for seed in range(20):
        states = _draft(seed, quiet, everything).states
        assert all(states[k] == "positive" for k in FINDINGS if k != "instrumentation")
    omitted = {key: 0 for key in FINDINGS}
    for seed in range(400):
        states = _draft(seed, NoiseRates(wrong_report=0.0), everything).states
        for key in FINDINGS:
            omitted[key] += states[key] == "not_mentioned"
    assert max(omitted, key=lambda k: omitted[k] if k != "instrumentation" else -1) == (
        "osteophytosis"
    )
    assert 0.25 < omitted["osteophytosis"] / 400 < 0.45
    assert omitted["scoliosis"] / 400 < 0.12


def test_planted_identifiers_and_fiscal_code() -> None:
    assert codice_fiscale("ROSSI", "MARIO", dt.date(1980, 1, 1), "M", "H501") == "RSSMRA80A01H501U"
    noisy = NoiseRates(identifier=1.0, comparison=1.0)
    draft = _draft(1, noisy, {})
    kinds = {kind for kind, _ in draft.planted}
    assert "name" in kinds and "date" in kinds
    for _, value in draft.planted:
        assert value.upper() in draft.text.upper()


def test_rule_labeller_on_held_out_phrasing() -> None:
    """Hand-written reports (tests/data), not the simulator's phrase bank: a measurement of
    generalisation, never tuned on. The labeller must not be reading the generator's templates."""
    from labeller import RuleLabeller

    labeller = RuleLabeller(taskfile.lexicon())
    data = Path(__file__).parent.parent / "data"
    rows = _csv(data / "heldout_reports.csv") + _csv(data / "heldout_reports_2.csv")
    cells = right = mentioned = mentioned_right = 0
    for row in rows:
        expected = dict(pair.split("=") for pair in row["labels"].split(";") if pair)
        labels = labeller.label(row["text"])
        for key in taskfile.FINDING_KEYS:
            want = expected.get(key, "not_mentioned")
            cells += 1
            right += labels[key].state.value == want
            if want != "not_mentioned":
                mentioned += 1
                mentioned_right += labels[key].state.value == want
    assert right / cells >= 0.98
    assert mentioned_right / mentioned >= 0.95
    # The lexicon is not the generator's phrase bank copied.
    from simhospital import reports

    bank = {
        p.lower()
        for bank in (reports._POSITIVE, reports._NEGATIVE, reports._UNCERTAIN)
        for phrases in bank.values()
        for p in phrases
    }
    findings = taskfile.TASK["findings"]
    terms = {t.lower() for f in findings for t in [*f["lexicon"], *f.get("absent_lexicon", [])]}
    assert not bank & terms


def test_gallery(tmp_path: Path) -> None:
    from PIL import Image

    path = render_gallery(tmp_path / "gallery.png", tile_width=80)
    with Image.open(path) as image:
        assert image.width == 8 * 80 + 30 and image.height > 200


def test_study_fields_are_consistent() -> None:
    study = generate_study(1, seed=3, scale=0.1)
    uids = {ds.SOPInstanceUID for ds in study.datasets}
    assert {study.ap_sop_instance_uid, study.lateral_sop_instance_uid} <= uids
    assert set(study.image_truth) == set(FINDINGS) == set(study.report_states)
    replaced = dataclasses.replace(study, views=())
    assert replaced.views == ()
