"""Report selection: does every study's stored report come from the radiologist (issue 12)?

    .venv/bin/python bench/report_selection.py --studies 200

The simulated hospital's studies, each also holding the documents a real study
collects (a dose report, another vendor's TID 1500 AI report, a key object
selection, an SR another pacslabel installation wrote back). For each study the
report is taken three ways — by pacslabel's rule (`pacsbridge.choose_report`
over the documents `classify_document` calls reports; the RIS drop otherwise),
by the rule that was there before (any SR instance with a content tree, the
last one in file order), and from the study without the extra documents — then
labelled with the rule labeller, and every (study, finding) cell compared with
the simulator's report truth. Simulated data: this measures the code against
its own generator; tests/integration/test_report_selection.py runs the same
documents through a real Orthanc.
"""

from __future__ import annotations

import argparse
from copy import deepcopy

from _report import write_section
from pydicom.dataset import Dataset

from labeller import RuleLabeller
from pacsbridge import ReportNotFound, choose_report, is_report, report_candidate, report_text
from pacslabel.task import load_task
from simhospital import SimulatedStudy, generate_study
from simhospital.documents import with_other_documents


def _chosen(study: SimulatedStudy) -> str | None:
    """The SOP Instance UID of the document the rule takes the report from (``None``: none
    in the study, the RIS drop)."""
    candidates = [c for ds in study.datasets if (c := report_candidate(ds)) is not None]
    try:
        return choose_report(candidates).sop_instance_uid
    except ReportNotFound:
        return None


def _by_rule(study: SimulatedStudy) -> str:
    candidates = [c for ds in study.datasets if (c := report_candidate(ds)) is not None]
    try:
        return choose_report(candidates).text
    except ReportNotFound:
        return study.report_text  # the RIS drop holds it


def _before(study: SimulatedStudy) -> str:
    """The old rule: any SR instance with a content tree, the last in file (UID) order."""
    documents = sorted(
        (ds for ds in study.datasets if ds.get("Modality") in ("SR", "DOC")),
        key=lambda ds: str(ds.SOPInstanceUID),
    )
    texts = []
    for ds in documents:
        try:
            texts.append(report_text(_as_report(ds)))
        except ReportNotFound:
            continue
    return texts[-1] if texts else study.report_text


def _as_report(ds: Dataset) -> Dataset:
    """``ds`` as the old rule saw it: every SR with content was a report."""
    if ds.get("Modality") != "SR" or "ContentSequence" not in ds:
        return ds
    copy = deepcopy(ds)
    copy.Manufacturer = "any"
    copy.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "18748-4", "LN", "Report"
    copy.ConceptNameCodeSequence = [code]
    copy.ContentTemplateSequence = []
    return copy


def _agreement(labeller: RuleLabeller, texts: list[str], studies: list[SimulatedStudy]) -> float:
    right = cells = 0
    for labels, study in zip(labeller.label_many(texts), studies, strict=True):
        for key, truth in study.report_states.items():
            cells += 1
            right += labels[key].state.value == truth
    return right / cells


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    labeller = RuleLabeller(load_task("lumbar_spine").lexicon())
    plain = [generate_study(i, args.seed, scale=0.05) for i in range(args.studies)]
    extra = [with_other_documents(study, args.seed) for study in plain]
    rows = {
        "without the extra documents, by the rule": _agreement(
            labeller, [_by_rule(s) for s in plain], plain
        ),
        "with them, by the rule": _agreement(labeller, [_by_rule(s) for s in extra], extra),
        "with them, by the old rule (any SR, the last)": _agreement(
            labeller, [_before(s) for s in extra], extra
        ),
    }
    radiologist = [
        next((str(ds.SOPInstanceUID) for ds in s.datasets if is_report(ds)), None) for s in plain
    ]
    taken = sum(_chosen(s) == uid for s, uid in zip(extra, radiologist, strict=True))
    body = (
        "## Report selection\n\n"
        f"`.venv/bin/python bench/report_selection.py --studies {args.studies}`\n\n"
        f"{args.studies} simulated studies, each also holding a dose SR, another vendor's "
        "TID 1500 AI SR, a key object selection and another pacslabel installation's SR "
        "(text that reads like findings). Share of (study, finding) cells where the rule "
        "labeller's state on the chosen report equals the simulator's report truth. "
        "Simulated data: the code against its own generator.\n\n"
        "| report taken | cells agreeing with report truth |\n|---|---|\n"
        + "\n".join(f"| {name} | {value:.4f} |" for name, value in rows.items())
        + f"\n\nStudies whose report is taken from the radiologist's document (SR or PDF) or, "
        f"with none in the study, from the RIS drop: {taken} of {len(extra)}."
    )
    print(body)
    if not args.no_write:
        write_section("report_selection", body)


if __name__ == "__main__":
    main()
