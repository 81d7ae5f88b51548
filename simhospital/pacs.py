"""The simulated PACS: a Query/Retrieve SCP over a folder of DICOM files.

Services (PS3.4): Verification (C-ECHO); Study Root and Patient Root
Query/Retrieve C-FIND at study, series and image level with single-value,
list-of-UID, wildcard and date-range matching (C.2.2.2); C-MOVE to the
move destinations it is told about (an unknown one answers 0xA801, as a
real PACS does); Storage SCP (C-STORE), so SRs sent back land in it and
are visible to later queries.
"""

from __future__ import annotations

import fnmatch
import logging
import shutil
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from pacsbridge import LocalAE, Node, application_entity
from pacsbridge.association import CONNECTION_HANDLERS, STORAGE_TRANSFER_SYNTAXES
from simhospital.dicom import SimulatedStudy, write_study

__all__ = ["SimulatedPACS"]

logger = logging.getLogger(__name__)

_STUDY_KEYS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
    "ReferringPhysicianName",
)
_SERIES_KEYS = (
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "BodyPartExamined",
)
_IMAGE_KEYS = ("SOPInstanceUID", "SOPClassUID", "InstanceNumber", "ViewPosition")


@dataclass
class _Instance:
    path: Path
    attrs: dict[str, str]


@dataclass
class _Index:
    instances: dict[str, _Instance] = field(default_factory=dict)

    def add(self, path: Path, ds: Dataset) -> None:
        attrs = {k: _text(ds.get(k, "")) for k in (*_STUDY_KEYS, *_SERIES_KEYS, *_IMAGE_KEYS)}
        self.instances[attrs["SOPInstanceUID"]] = _Instance(path, attrs)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


def _matches(wanted: str, value: str, keyword: str) -> bool:
    """Attribute matching of PS3.4 C.2.2.2 for one key."""
    if wanted in ("", "*"):
        return True
    if keyword.endswith("UID"):
        return value in wanted.split("\\")
    if keyword in ("StudyDate", "StudyTime") and "-" in wanted:
        low, _, high = wanted.partition("-")
        return (not low or value >= low) and (not high or value <= high)
    if "*" in wanted or "?" in wanted:
        return fnmatch.fnmatchcase(value.upper(), wanted.upper())
    return value.upper() == wanted.upper() if keyword == "PatientName" else value == wanted


class SimulatedPACS:
    """A PACS in a folder, served over DICOM.

    Parameters
    ----------
    storage_dir
        Where instances live (given, received or added).
    ae_title, port
        The SCP's address (port 0: any free port).
    destinations
        Move destinations the PACS knows: AE title → (host, port).
    """

    def __init__(
        self,
        storage_dir: Path,
        ae_title: str = "SIMPACS",
        port: int = 0,
        host: str = "127.0.0.1",
        destinations: dict[str, tuple[str, int]] | None = None,
    ) -> None:
        self.storage_dir = storage_dir
        self.ae_title = ae_title
        self._host = host
        self._port = port
        self.destinations = dict(destinations or {})
        self._index = _Index()
        self._lock = threading.Lock()
        self._server: ThreadedAssociationServer | None = None
        self.received: list[str] = []
        """SOP Instance UIDs received by C-STORE, in order."""
        storage_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(storage_dir.rglob("*.dcm")):
            self._index_file(path)

    def _index_file(self, path: Path) -> None:
        try:
            ds = dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError) as exc:
            logger.warning("simulated PACS skips %s: %s", path.name, exc)
            return
        with self._lock:
            self._index.add(path, ds)

    @property
    def node(self) -> Node:
        """How to reach this PACS."""
        return Node(self.ae_title, self._host, self.port)

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return int(self._server.server_address[1])

    @property
    def ris_dir(self) -> Path:
        """Where the simulated RIS drops the reports it keeps outside the PACS."""
        return self.storage_dir.parent / f"{self.storage_dir.name}-ris"

    def add_study(self, study: SimulatedStudy) -> None:
        """Store a simulated study's instances in the PACS (and its report, if the RIS
        keeps it, in :attr:`ris_dir`)."""
        folder = self.storage_dir / study.study_instance_uid
        for path, ds in zip(write_study(study, folder, self.ris_dir), study.datasets, strict=True):
            with self._lock:
                self._index.add(path, ds)

    def add_instance(self, ds: Dataset) -> None:
        """Store one more instance (a report written after its study's images, a second
        view taken later)."""
        folder = self.storage_dir / str(ds.StudyInstanceUID)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        with self._lock:
            self._index.add(path, ds)

    def add_listing(self, ds: Dataset) -> None:
        """Index an instance's header without storing it: it answers C-FIND, not C-MOVE
        (query tests over archives too large to write)."""
        with self._lock:
            self._index.add(self.storage_dir / "not-stored", ds)

    def study_uids(self) -> set[str]:
        """The Study Instance UIDs the PACS holds."""
        with self._lock:
            return {i.attrs["StudyInstanceUID"] for i in self._index.instances.values()}

    def received_datasets(self) -> list[Dataset]:
        """Every instance received by C-STORE, read back."""
        with self._lock:
            paths = [self._index.instances[uid].path for uid in self.received]
        return [dcmread(path) for path in paths]

    def start(self) -> SimulatedPACS:
        ae = application_entity(LocalAE(self.ae_title))
        ae.maximum_associations = 16
        for model in (
            StudyRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelMove,
            PatientRootQueryRetrieveInformationModelFind,
            PatientRootQueryRetrieveInformationModelMove,
            StudyRootQueryRetrieveInformationModelGet,
        ):
            ae.add_supported_context(model)
        ae.add_supported_context(Verification)
        for context in AllStoragePresentationContexts:
            # scu_role: a C-GET requestor may ask us to act as storage SCU on its association.
            ae.add_supported_context(
                context.abstract_syntax, STORAGE_TRANSFER_SYNTAXES, scu_role=True, scp_role=True
            )
        self._server = ae.start_server(
            (self._host, self._port),
            block=False,
            evt_handlers=[
                *CONNECTION_HANDLERS,
                (evt.EVT_C_FIND, self._on_find),
                (evt.EVT_C_MOVE, self._on_move),
                (evt.EVT_C_GET, self._on_get),
                (evt.EVT_C_STORE, self._on_store),
            ],
        )
        logger.info(
            "simulated PACS %s on %s:%d with %d instances",
            self.ae_title,
            self._host,
            self.port,
            len(self._index.instances),
        )
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> SimulatedPACS:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _select(self, query: Dataset) -> list[_Instance]:
        wanted = {
            elem.keyword: _text(elem.value)
            for elem in query
            if elem.keyword and elem.keyword in (*_STUDY_KEYS, *_SERIES_KEYS, *_IMAGE_KEYS)
        }
        modalities = _text(query.get("ModalitiesInStudy", "")).split("\\")
        with self._lock:
            chosen = [
                i
                for i in self._index.instances.values()
                if all(_matches(v, i.attrs[k], k) for k, v in wanted.items())
            ]
            if any(modalities):
                studies = {
                    i.attrs["StudyInstanceUID"]
                    for i in self._index.instances.values()
                    if i.attrs["Modality"] in modalities
                }
                chosen = [i for i in chosen if i.attrs["StudyInstanceUID"] in studies]
        return chosen

    def _on_find(self, event: Event) -> Iterator[tuple[int, Dataset | None]]:
        query = event.identifier
        level = str(query.get("QueryRetrieveLevel", ""))
        key = {
            "PATIENT": "PatientID",
            "STUDY": "StudyInstanceUID",
            "SERIES": "SeriesInstanceUID",
            "IMAGE": "SOPInstanceUID",
        }.get(level)
        if key is None:
            yield 0xC000, None
            return
        groups: dict[str, list[_Instance]] = {}
        for instance in self._select(query):
            groups.setdefault(instance.attrs[key], []).append(instance)
        modalities: dict[str, set[str]] = {}
        if "ModalitiesInStudy" in query:
            with self._lock:
                for i in self._index.instances.values():
                    modalities.setdefault(i.attrs["StudyInstanceUID"], set()).add(
                        i.attrs["Modality"]
                    )
        for members in groups.values():
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield 0xFF00, self._answer(query, level, members, modalities)

    def _answer(
        self,
        query: Dataset,
        level: str,
        members: list[_Instance],
        modalities: dict[str, set[str]],
    ) -> Dataset:
        # An attribute of the level: the first member that has a value for it
        # (an SR sent back may lack the study description the images carry).
        first = {
            key: next((m.attrs[key] for m in members if m.attrs[key]), "")
            for key in members[0].attrs
        }
        answer = Dataset()
        answer.QueryRetrieveLevel = level
        answer.RetrieveAETitle = self.ae_title
        for elem in query:
            keyword = elem.keyword
            if keyword in first:
                setattr(
                    answer,
                    keyword,
                    first[keyword].split("\\") if "\\" in first[keyword] else first[keyword],
                )
            elif keyword == "ModalitiesInStudy":
                answer.ModalitiesInStudy = sorted(modalities.get(first["StudyInstanceUID"], ()))
            elif keyword in ("NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances"):
                setattr(answer, keyword, len(members))
            elif keyword and keyword not in ("QueryRetrieveLevel", "RetrieveAETitle"):
                setattr(answer, keyword, elem.value)
        return answer

    def _on_move(self, event: Event) -> Iterator[object]:
        destination = self.destinations.get((event.move_destination or "").strip())
        if destination is None:
            yield None, None  # pynetdicom answers 0xA801, move destination unknown
            return
        instances = self._select(event.identifier)
        datasets = [dcmread(instance.path) for instance in instances]
        # Request exactly the contexts the sub-operations need (at most 128 fit).
        # One transfer syntax per context, as dcmtk does: a context proposing several
        # gets only one accepted, and a compressed instance cannot be sent in another.
        wanted = {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets}
        wanted |= {(sop_class, ExplicitVRLittleEndian) for sop_class, _ in wanted}
        contexts = [build_context(sop_class, syntax) for sop_class, syntax in sorted(wanted)]
        yield (
            destination[0],
            destination[1],
            {"contexts": contexts or None, "evt_handlers": list(CONNECTION_HANDLERS)},
        )
        yield from _sub_operations(event, datasets)

    def _on_get(self, event: Event) -> Iterator[object]:
        datasets = [dcmread(instance.path) for instance in self._select(event.identifier)]
        yield from _sub_operations(event, datasets)

    def _on_store(self, event: Event) -> int:
        ds = event.dataset
        folder = self.storage_dir / str(ds.StudyInstanceUID)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        spooled = event.dataset_path  # set when the process receives into files
        if spooled is not None:
            shutil.copyfile(spooled, path)
        else:
            path.write_bytes(event.encoded_dataset(include_meta=True))
        with self._lock:
            self._index.add(path, ds)
            self.received.append(str(ds.SOPInstanceUID))
        return 0x0000


def _sub_operations(event: Event, datasets: Sequence[Dataset]) -> Iterator[object]:
    """What a C-MOVE or C-GET handler yields after its set-up: the count, then each
    instance as pending (0xFF00), or cancel (0xFE00) when the peer asks."""
    yield len(datasets)
    for ds in datasets:
        if event.is_cancelled:
            yield 0xFE00, None
            return
        yield 0xFF00, ds
