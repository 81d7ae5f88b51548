"""Italian radiology reports written from a simulated study's findings.

This is the simulated radiologist, deliberately separate from the labeller:
its phrasing is its own (synonyms, severity words, vertebral levels,
explicit negations, hedges), and a report may omit findings the image shows
or hedge on them, so report labels are noisy the way the paper's were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pacsbridge.simulator.findings import Truth

__all__ = ["NoiseRates", "ReportDraft", "write_report"]

LEVELS = ("L1", "L2", "L3", "L4", "L5")
_SEVERITY = {
    1: ["lieve", "modesta", "iniziale", "lieve grado di"],
    2: ["moderata", "discreta", "evidente"],
    3: ["marcata", "severa", "importante", "grave"],
}

# What the radiologist writes when a finding is present; {sev} severity word, {lv} level.
_POSITIVE: dict[str, list[str]] = {
    "instrumentation": [
        "Esiti di intervento di stabilizzazione vertebrale {span} con viti peduncolari "
        "e barre metalliche.",
        "Presenza di mezzi di sintesi metallici {span}.",
        "Artrodesi strumentata {span} con viti transpeduncolari, in sede.",
        "Sistema di fissazione vertebrale posteriore {span}, senza segni di mobilizzazione.",
    ],
    "loss_of_lordosis": [
        "{Sev} riduzione della fisiologica lordosi lombare.",
        "Rettilineizzazione del rachide lombare.",
        "Lordosi lombare ridotta.",
        "Inversione della fisiologica lordosi lombare.",
        "Ipolordosi lombare.",
    ],
    "facet_sclerosis": [
        "Sclerosi delle faccette articolari {lv2}.",
        "Artrosi interapofisaria {lv2} con sclerosi dei versanti articolari.",
        "Segni di artrosi zigoapofisaria ai livelli lombari inferiori.",
        "Addensamento sclerotico delle faccette articolari posteriori {lv2}.",
    ],
    "sij_degeneration": [
        "Sclerosi dei versanti articolari sacroiliaci.",
        "Alterazioni degenerative delle articolazioni sacro-iliache.",
        "Artrosi sacroiliaca bilaterale.",
        "Articolazioni sacroiliache con margini sclerotici e irregolari.",
    ],
    "osteophytosis": [
        "Osteofitosi marginale somatica.",
        "Becchi osteofitici ai margini dei corpi vertebrali {lv2}.",
        "{Sev} produzione osteofitica marginale.",
        "Osteofiti anteriori {lv2}.",
    ],
    "osteoporosis": [
        "Osteoporosi.",
        "Riduzione della mineralizzazione ossea.",
        "Diffusa demineralizzazione ossea di tipo osteoporotico.",
        "Osteopenia diffusa.",
    ],
    "diffuse_degeneration": [
        "Spondiloartrosi diffusa.",
        "Diffuse alterazioni degenerative del rachide lombare.",
        "Fenomeni spondiloartrosici diffusi.",
        "Segni di spondilosi lombare.",
    ],
    "scoliosis": [
        "Scoliosi lombare {side}.",
        "Atteggiamento scoliotico {side} del rachide lombare.",
        "{Sev} scoliosi a convessità {conv}.",
        "Curva scoliotica lombare a convessità {conv}.",
    ],
    "fractures": [
        "Frattura con riduzione dell'altezza del soma di {lv}.",
        "Cedimento somatico di {lv}.",
        "Deformazione a cuneo del corpo vertebrale di {lv}.",
        "Frattura da compressione di {lv}.",
    ],
    "disc_narrowing": [
        "Riduzione dello spazio intersomatico {lv2}.",
        "Ridotta altezza dello spazio discale {lv2}.",
        "Discopatia {lv2}.",
        "{Sev} riduzione in altezza dello spazio discale {lv2}.",
    ],
    "anterolisthesis": [
        "Anterolistesi di {lv} su {lvn}.",
        "Spondilolistesi di {lv} su {lvn} di grado {grade}.",
        "Anterolistesi di {lv} di {grade} grado.",
    ],
    "retrolisthesis": [
        "Retrolistesi di {lv} su {lvn}.",
        "Modesta retrolistesi di {lv}.",
        "Retrolistesi di {lv} di alcuni millimetri.",
    ],
}

# What the radiologist writes to say a finding is absent.
_NEGATIVE: dict[str, list[str]] = {
    "instrumentation": ["Non mezzi di sintesi."],
    "loss_of_lordosis": ["Lordosi lombare conservata.", "Fisiologica lordosi lombare mantenuta."],
    "facet_sclerosis": ["Non segni di artrosi interapofisaria."],
    "sij_degeneration": [
        "Articolazioni sacroiliache nei limiti.",
        "Non alterazioni delle sacroiliache.",
    ],
    "osteophytosis": ["Non osteofiti."],
    "osteoporosis": ["Normale mineralizzazione ossea.", "Mineralizzazione ossea conservata."],
    "diffuse_degeneration": ["Non significativi fenomeni degenerativi."],
    "scoliosis": ["Non scoliosi.", "Non deviazioni scoliotiche."],
    "fractures": [
        "Non fratture.",
        "Non si apprezzano fratture vertebrali.",
        "Non evidenti cedimenti somatici.",
    ],
    "disc_narrowing": [
        "Spazi intersomatici conservati.",
        "Non riduzione degli spazi intersomatici.",
    ],
    "anterolisthesis": ["Non listesi.", "Assenza di anterolistesi."],
    "retrolisthesis": ["Non retrolistesi."],
}

# Hedged mentions.
_UNCERTAIN: dict[str, list[str]] = {
    "instrumentation": ["Non si esclude la presenza di mezzi di sintesi {span}."],
    "loss_of_lordosis": [
        "Verosimile riduzione della lordosi lombare, da valutare in ortostatismo."
    ],
    "facet_sclerosis": ["Sospetta sclerosi delle faccette articolari {lv2}."],
    "sij_degeneration": ["Dubbia sclerosi delle sacroiliache."],
    "osteophytosis": ["Possibili piccoli osteofiti marginali."],
    "osteoporosis": ["Sospetta osteopenia, da correlare con esame densitometrico."],
    "diffuse_degeneration": ["Verosimili iniziali alterazioni degenerative."],
    "scoliosis": ["Possibile lieve atteggiamento scoliotico, forse posturale."],
    "fractures": [
        "Non si esclude frattura di {lv}.",
        "Sospetta frattura di {lv}, da approfondire con TC.",
    ],
    "disc_narrowing": ["Sospetta riduzione dello spazio intersomatico {lv2}."],
    "anterolisthesis": ["Non si esclude modesta anterolistesi di {lv}."],
    "retrolisthesis": ["Sospetta retrolistesi di {lv}."],
}

_OPENINGS = [
    "Esame eseguito in ortostatismo nelle proiezioni AP e LL.",
    "Rachide lombare in due proiezioni.",
    "RX rachide lombo-sacrale in ortostasi.",
    "",
]
_CLOSINGS = [
    "",
    "Si consiglia controllo clinico.",
    "Da correlare con il quadro clinico.",
    "Non altre alterazioni di rilievo.",
]


@dataclass(frozen=True, slots=True)
class NoiseRates:
    """How often the simulated radiologist departs from the image (each a probability)."""

    omit_present: float = 0.10
    hedge_present: float = 0.05
    negate_absent: float = 0.25
    hedge_absent: float = 0.02


DEFAULT_NOISE = NoiseRates()


@dataclass(frozen=True, slots=True)
class ReportDraft:
    """A report and what it says about each finding (the four states)."""

    text: str
    states: dict[str, str]
    planted: tuple[str, ...]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _fill(template: str, key: str, truth: Truth, rng: np.random.Generator) -> str:
    k = truth.level.get(key, int(rng.integers(2, 5)))
    severity = max(truth.severity.get(key, 1), 1)
    sev = _pick(rng, _SEVERITY[severity])
    span_top = max(k - (1 + truth.severity.get(key, 1) // 2) + 1, 0)
    values = {
        "sev": sev,
        "Sev": sev.capitalize(),
        "lv": LEVELS[k],
        "lvn": LEVELS[k + 1] if k < 4 else "S1",
        "lv2": f"{LEVELS[k]}-{LEVELS[k + 1] if k < 4 else 'S1'}",
        "span": f"{LEVELS[span_top]}-{LEVELS[min(k + 1, 4)]}",
        "side": _pick(rng, ["destro-convessa", "sinistro-convessa", "levo-convessa"]),
        "conv": _pick(rng, ["destra", "sinistra"]),
        "grade": _pick(rng, ["I", "primo", "II"]),
    }
    return template.format(**values)


def write_report(
    truth: Truth,
    rng: np.random.Generator,
    *,
    patient_name: str,
    study_date: str,
    noise: NoiseRates = DEFAULT_NOISE,
    plant_identifier_rate: float = 0.15,
) -> ReportDraft:
    """Write the report of one study.

    Parameters
    ----------
    truth
        What the images show.
    patient_name
        ``FAMILY^GIVEN``; sometimes written into the text, as happens.
    study_date
        ``YYYYMMDD``; sometimes written into the text.
    noise
        How the report departs from the images.
    plant_identifier_rate
        Share of reports that carry the patient's name or the exam date.
    """
    sentences: list[str] = []
    states: dict[str, str] = {}
    for key in _POSITIVE:
        draw = rng.random()
        if truth.present(key):
            if draw < noise.omit_present:
                states[key] = "not_mentioned"
                continue
            if draw < noise.omit_present + noise.hedge_present:
                states[key] = "uncertain"
                sentences.append(_fill(_pick(rng, _UNCERTAIN[key]), key, truth, rng))
                continue
            states[key] = "positive"
            sentences.append(_fill(_pick(rng, _POSITIVE[key]), key, truth, rng))
        elif draw < noise.hedge_absent:
            states[key] = "uncertain"
            sentences.append(_fill(_pick(rng, _UNCERTAIN[key]), key, truth, rng))
        elif draw < noise.hedge_absent + noise.negate_absent:
            states[key] = "negative"
            sentences.append(_fill(_pick(rng, _NEGATIVE[key]), key, truth, rng))
        else:
            states[key] = "not_mentioned"
    order = rng.permutation(len(sentences))
    body = " ".join(sentences[i] for i in order)
    planted: list[str] = []
    opening = _pick(rng, _OPENINGS)
    if rng.random() < plant_identifier_rate:
        family, _, given = patient_name.partition("^")
        written = f"{given.title()} {family.title()}".strip()
        planted.append(written)
        opening = f"Paziente: {written}. {opening}"
    if rng.random() < plant_identifier_rate:
        date = f"{study_date[6:8]}/{study_date[4:6]}/{study_date[:4]}"
        planted.append(date)
        opening = f"{opening} Esame del {date}."
    text = "\n".join(part for part in (opening.strip(), body, _pick(rng, _CLOSINGS)) if part)
    return ReportDraft(text=text, states=states, planted=tuple(planted))
