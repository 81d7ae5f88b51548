"""Query, retrieve and store against the simulated PACS, over real associations."""

from __future__ import annotations

import copy
from pathlib import Path

import highdicom as hd
import pytest
import taskfile
from pydicom import dcmread

from pacsbridge import (
    AssociationRejected,
    FindingCode,
    FindingResult,
    LocalAE,
    MoveDestinationUnknown,
    Node,
    OriginalIdentity,
    Pseudonymiser,
    StorageSCP,
    StudyFilter,
    build_prediction_sr,
    find_images,
    find_series,
    find_studies,
    move_study,
    store_instance,
)
from pacsbridge.association import storage_contexts
from pacsbridge.errors import AssociationAborted
from simhospital import SimulatedPACS, SimulatedStudy

LUMBAR = taskfile.study_filter()


def test_find_studies_series_images(
    pacs: SimulatedPACS, local: LocalAE, small_studies: list[SimulatedStudy]
) -> None:
    studies = find_studies(local, pacs.node, LUMBAR)
    assert {s.study_instance_uid for s in studies} == {s.study_instance_uid for s in small_studies}
    counts = {s.study_instance_uid: len(s.datasets) for s in small_studies}
    assert all(s.number_of_study_related_instances == counts[s.study_instance_uid] for s in studies)
    assert all({"CR", "DX"} & set(s.modalities_in_study) for s in studies)

    study = small_studies[0]
    series = find_series(local, pacs.node, study.study_instance_uid)
    assert "SR" in {s.modality for s in series}
    images = [
        image
        for s in series
        if s.modality != "SR"
        for image in find_images(local, pacs.node, study.study_instance_uid, s.series_instance_uid)
    ]
    assert {image.sop_instance_uid for image in images} >= {
        study.ap_sop_instance_uid,
        study.lateral_sop_instance_uid,
    }
    assert len(images) == len(study.datasets) - 1


def test_description_filter_and_date_range(
    pacs: SimulatedPACS, local: LocalAE, small_studies: list[SimulatedStudy]
) -> None:
    assert find_studies(local, pacs.node, StudyFilter(("DX",), (), ("*KNEE*",))) == []
    assert find_studies(local, pacs.node, StudyFilter(("MR",))) == []
    first = min(s.study_date for s in small_studies)
    only = find_studies(local, pacs.node, LUMBAR, date_from=first, date_to=first)
    assert {s.study_date for s in only} == {first}


def test_move_delivers_every_instance(
    pacs: SimulatedPACS, local: LocalAE, scp: StorageSCP, small_studies: list[SimulatedStudy]
) -> None:
    study = small_studies[1]
    result = move_study(local, pacs.node, study.study_instance_uid, scp)
    n = len(study.datasets)
    assert (result.completed, result.failed, result.received) == (n, 0, n)
    files = sorted(scp.study_dir(study.study_instance_uid).glob("*.dcm"))
    assert len(files) == n
    uids = {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files}
    assert study.ap_sop_instance_uid in uids
    # Clinical UIDs never name files or folders.
    assert study.study_instance_uid not in str(files[0])


def test_unknown_move_destination_tells_the_operator_what_to_register(
    pacs: SimulatedPACS,
    tmp_path: Path,
    pseudonymiser: Pseudonymiser,
    small_studies: list[SimulatedStudy],
) -> None:
    stranger = LocalAE("STRANGER", storage_port=0)
    with StorageSCP(stranger, tmp_path / "in", tmp_path / "q", pseudonymiser.uid) as scp:
        port = scp.port
        with pytest.raises(MoveDestinationUnknown) as info:
            move_study(stranger, pacs.node, small_studies[0].study_instance_uid, scp)
    message = str(info.value)
    assert "STRANGER" in message and str(port) in message and "register" in message


def test_storage_scp_refuses_unknown_calling_ae(
    scp: StorageSCP, small_studies: list[SimulatedStudy]
) -> None:
    intruder = LocalAE("INTRUDER")
    with pytest.raises(AssociationRejected, match=r"(?i)calling AE title not recognised"):
        store_instance(
            intruder, Node(scp.ae_title, "127.0.0.1", scp.port), small_studies[0].datasets[0]
        )


def test_unreachable_pacs_is_an_association_error(local: LocalAE) -> None:
    with pytest.raises(AssociationAborted):
        find_studies(
            LocalAE("PACSLABEL", network_timeout_s=2), Node("NOBODY", "127.0.0.1", 9), LUMBAR
        )


def test_sr_stored_back_references_the_original_study(
    pacs: SimulatedPACS, local: LocalAE, small_studies: list[SimulatedStudy]
) -> None:
    study = small_studies[2]
    by_uid = {ds.SOPInstanceUID: ds for ds in study.datasets}
    ap, lateral = (
        OriginalIdentity.from_dataset(by_uid[uid])
        for uid in (study.ap_sop_instance_uid, study.lateral_sop_instance_uid)
    )
    code = FindingCode("scoliosis", "SCT", "298382003", "Scoliosis deformity of spine", "Scoliosis")
    sr = build_prediction_sr(
        [ap, lateral],
        [FindingResult(code, 0.83, True)],
        algorithm_name="pacslabel ResNet-18",
        algorithm_version="v-test",
    )
    store_instance(local, pacs.node, sr)
    (received,) = pacs.received_datasets()
    parsed = hd.sr.Comprehensive3DSR.from_dataset(received)
    assert parsed.StudyInstanceUID == study.study_instance_uid
    assert parsed.PatientID == study.patient.patient_id
    (group,) = parsed.content.get_image_measurement_groups()
    assert group.tracking_identifier == "scoliosis"
    (evaluation,) = group.get_qualitative_evaluations()
    assert evaluation.value.value == "52101004"  # SCT Present
    (measurement,) = group.get_measurements()
    assert measurement.value == pytest.approx(0.83)
    referenced = {
        item.ReferencedSOPInstanceUID
        for series in parsed.CurrentRequestedProcedureEvidenceSequence
        for refs in series.ReferencedSeriesSequence
        for item in refs.ReferencedSOPSequence
    }
    assert referenced == {study.ap_sop_instance_uid, study.lateral_sop_instance_uid}


def test_simulated_pacs_answers_c_echo(pacs: SimulatedPACS) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE("PACSLABEL")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", pacs.port, ae_title=pacs.ae_title)
    assert assoc.is_established
    try:
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


def test_the_storage_contexts_copy_cheaply_and_apart() -> None:
    """pynetdicom deep-copies an SCP's contexts for each association: ours share their UIDs
    (immutable) and keep their own negotiation state."""
    contexts = storage_contexts()
    assert len(contexts) > 100
    copied = copy.deepcopy(contexts)
    assert [c.abstract_syntax for c in copied] == [c.abstract_syntax for c in contexts]
    assert copied[0].abstract_syntax is contexts[0].abstract_syntax
    assert copied[0].transfer_syntax == contexts[0].transfer_syntax
    copied[0].result = 0
    copied[0].transfer_syntax = copied[0].transfer_syntax[:1]
    assert contexts[0].result is None and len(contexts[0].transfer_syntax) > 1
