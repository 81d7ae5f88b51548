"""The rule labeller on phrasing written for these tests, not taken from the simulator."""

from __future__ import annotations

import pytest
import taskfile

from labeller import RuleLabeller, State, normalise_report


@pytest.fixture(scope="module")
def labeller() -> RuleLabeller:
    return RuleLabeller(taskfile.lexicon())


CASES = [
    # (report, finding, expected state)
    ("Presenza di viti peduncolari L4-L5.", "instrumentation", State.POSITIVE),
    ("Esiti di artrodesi L3-S1 con cage intersomatiche.", "instrumentation", State.POSITIVE),
    ("Non mezzi di sintesi metallici.", "instrumentation", State.NEGATIVE),
    ("Rettilineizzazione della lordosi lombare.", "loss_of_lordosis", State.POSITIVE),
    ("Lordosi lombare nei limiti della norma.", "loss_of_lordosis", State.NEGATIVE),
    ("Si segnala marcata osteofitosi somatica marginale.", "osteophytosis", State.POSITIVE),
    ("Assenza di osteofiti.", "osteophytosis", State.NEGATIVE),
    ("Osteofiti non evidenziabili.", "osteophytosis", State.NEGATIVE),
    ("Non si esclude piccolo osteofita anteriore di L4.", "osteophytosis", State.UNCERTAIN),
    ("Verosimile frattura del soma di L1.", "fractures", State.UNCERTAIN),
    ("Non si apprezzano fratture né crolli vertebrali.", "fractures", State.NEGATIVE),
    ("Crollo somatico di D12 e L1.", "fractures", State.POSITIVE),
    ("Fratture escluse.", "fractures", State.NEGATIVE),
    ("Scoliosi sinistro-convessa del tratto lombare.", "scoliosis", State.POSITIVE),
    ("Modesta curva lombare a convessità destra.", "scoliosis", State.POSITIVE),
    ("Anterolistesi di primo grado di L5 su S1.", "anterolisthesis", State.POSITIVE),
    ("Listesi di L4 su L5 di circa 5 mm.", "anterolisthesis", State.POSITIVE),
    ("Lieve retrolistesi di L3.", "retrolisthesis", State.POSITIVE),
    ("Lieve retrolistesi di L3.", "anterolisthesis", State.NOT_MENTIONED),
    ("Ridotta ampiezza dello spazio intersomatico L5-S1.", "disc_narrowing", State.POSITIVE),
    ("Spazi intersomatici conservati.", "disc_narrowing", State.NEGATIVE),
    ("Demineralizzazione ossea diffusa.", "osteoporosis", State.POSITIVE),
    ("Normale mineralizzazione ossea.", "osteoporosis", State.NEGATIVE),
    ("Sclerosi delle articolazioni sacro-iliache.", "sij_degeneration", State.POSITIVE),
    ("Artrosi interapofisaria L4-L5 e L5-S1.", "facet_sclerosis", State.POSITIVE),
    ("Spondiloartrosi.", "diffuse_degeneration", State.POSITIVE),
    ("Esame nei limiti.", "scoliosis", State.NOT_MENTIONED),
]


@pytest.mark.parametrize(("report", "finding", "expected"), CASES)
def test_states(labeller: RuleLabeller, report: str, finding: str, expected: State) -> None:
    assert labeller.label(report)[finding].state is expected


def test_negation_stops_at_a_breaker(labeller: RuleLabeller) -> None:
    labels = labeller.label("Non fratture, ma si osserva anterolistesi di L4.")
    assert labels["fractures"].state is State.NEGATIVE
    assert labels["anterolisthesis"].state is State.POSITIVE


def test_sentence_boundary_ends_a_negation(labeller: RuleLabeller) -> None:
    labels = labeller.label("Non fratture. Osteoporosi.")
    assert labels["osteoporosis"].state is State.POSITIVE


def test_positive_wins_over_other_mentions(labeller: RuleLabeller) -> None:
    labels = labeller.label(
        "Non scoliosi evidente in clinostatismo. Scoliosi lombare in ortostasi."
    )
    assert labels["scoliosis"].state is State.POSITIVE
    assert "scoliosi" in labels["scoliosis"].evidence


def test_every_finding_is_answered(labeller: RuleLabeller) -> None:
    labels = labeller.label("")
    assert set(labels) == set(taskfile.FINDING_KEYS)
    assert all(label.state is State.NOT_MENTIONED for label in labels.values())


def test_normalisation_as_in_the_paper() -> None:
    assert (
        normalise_report("Scoliosi\nLOMBARE\r\n  destro-convessa")
        == "scoliosi lombare destro-convessa"
    )


def test_version_names_the_lexicon(labeller: RuleLabeller) -> None:
    assert labeller.version.startswith("rules:lumbar_spine-v1-")
