"""Italian radiology reports written from what a simulated radiologist saw.

This is the simulated radiologist, deliberately separate from the labeller.
It writes with the variety of real reports — synonyms, severity words,
vertebral levels, explicit negations, hedges, clauses chained in one
sentence, comparisons with a prior exam, post-operative reports that
describe the implant and little else, typing and speech-recognition
errors, and now and then the patient's name, a date or a codice fiscale —
in the house styles of real departments (:data:`HOUSE_STYLES`: running prose,
telegraphic notes, one line per structure, a header block with the clinical
question and a signature, dictation with spoken punctuation), with the
spellings of levels radiologists use ("L4-L5", "L4/L5", "L4 L5", "L5S1"),
and with the paper's noise: present findings left unreported (osteophytes
most of all), findings reported from the dynamic views only, wrong reports.
Each rate is a field of :class:`NoiseRates`. The report's four states per
finding are what the text says, whatever the image shows.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DEFAULT_NOISE",
    "HOUSE_STYLES",
    "IdentifierDrill",
    "NoiseRates",
    "ReportDraft",
    "codice_fiscale",
    "identifier_drill",
    "write_report",
]

LEVELS = ("D12", "L1", "L2", "L3", "L4", "L5")
_SEV = {
    1: ["lieve", "modesta", "iniziale", "lieve grado di"],
    2: ["moderata", "discreta", "evidente", "significativa"],
    3: ["marcata", "severa", "importante", "grave", "accentuata"],
}

# {sev} severity adjective, {lv} level, {lv2} disc level, {span} instrumented levels.
_POSITIVE: dict[str, list[str]] = {
    "instrumentation": [
        "Esiti di intervento di stabilizzazione vertebrale {span} con viti peduncolari e barre",
        "presenza di mezzi di sintesi metallici {span}",
        "artrodesi strumentata {span} con viti transpeduncolari, in sede",
        "sistema di fissazione posteriore {span} senza segni di mobilizzazione",
        "esiti di artrodesi {span} con cage intersomatica",
        "spaziatore interspinoso {lv2} in sede",
        "dispositivo interspinoso {lv2}",
        "viti e barre {span}",
        "osteosintesi posteriore {span} in sede",
    ],
    "loss_of_lordosis": [
        "{Sev} riduzione della fisiologica lordosi lombare",
        "rettilineizzazione del rachide lombare",
        "lordosi lombare ridotta",
        "inversione della fisiologica lordosi lombare",
        "ipolordosi lombare",
        "appiattimento della lordosi lombare",
    ],
    "facet_sclerosis": [
        "sclerosi delle faccette articolari {lv2}",
        "artrosi interapofisaria {lv2} con sclerosi dei versanti articolari",
        "segni di artrosi zigoapofisaria ai livelli lombari inferiori",
        "addensamento sclerotico delle faccette articolari posteriori {lv2}",
    ],
    "sij_degeneration": [
        "sclerosi dei versanti articolari sacroiliaci",
        "artrosi sacroiliaca bilaterale",
        "alterazioni degenerative delle articolazioni sacro-iliache",
        "articolazioni sacroiliache con margini sclerotici e irregolari",
        "rime articolari sacroiliache ridotte e sclerotiche",
        "sacroiliache: sclerosi subcondrale bilaterale",
        "ASI addensate",
    ],
    "osteophytosis": [
        "osteofitosi marginale somatica",
        "becchi osteofitici ai margini dei corpi vertebrali {lv2}",
        "{sev} produzione osteofitica marginale",
        "osteofiti anteriori {lv2}",
        "spondilofiti marginali",
    ],
    "osteoporosis": [
        "osteoporosi",
        "riduzione della mineralizzazione ossea",
        "diffusa demineralizzazione ossea di tipo osteoporotico",
        "osteopenia diffusa",
        "iperdiafania ossea",
    ],
    "diffuse_degeneration": [
        "spondiloartrosi diffusa",
        "diffuse alterazioni degenerative del rachide lombare",
        "fenomeni spondiloartrosici diffusi",
        "segni di spondilosi lombare",
        "quadro di discoartrosi multilivello",
    ],
    "scoliosis": [
        "scoliosi lombare {side}",
        "atteggiamento scoliotico {side} del rachide lombare",
        "{sev} scoliosi a convessità {conv}",
        "curva scoliotica lombare a convessità {conv}",
    ],
    "fractures": [
        "frattura con riduzione dell'altezza del soma di {lv}",
        "cedimento somatico di {lv}",
        "deformazione a cuneo del corpo vertebrale di {lv}",
        "frattura da compressione di {lv}",
        "crollo vertebrale di {lv}",
    ],
    "disc_narrowing": [
        "riduzione dello spazio intersomatico {lv2}",
        "ridotta altezza dello spazio discale {lv2}",
        "discopatia {lv2}",
        "{sev} riduzione in altezza dello spazio discale {lv2}",
        "assottigliamento del disco {lv2}",
        "{lv2} ridotto",
        "ridotto lo spazio {lv2}",
        "spazio {lv2}: ridotto",
        "ridotto lo spazio tra {lv} e {lvn}",
        "pinzamento {lv2}",
        "{lv2} pinzato",
    ],
    "anterolisthesis": [
        "anterolistesi di {lv} su {lvn}",
        "spondilolistesi di {lv} su {lvn} di grado {grade}",
        "anterolistesi di {lv} di {grade} grado",
        "traslazione anteriore di {lv} su {lvn}",
    ],
    "retrolisthesis": [
        "retrolistesi di {lv} su {lvn}",
        "modesta retrolistesi di {lv}",
        "retrolistesi di {lv} di alcuni millimetri",
        "retroposizione di {lv} rispetto a {lvn}",
    ],
}

_DYNAMIC = {
    "anterolisthesis": (
        "nelle proiezioni dinamiche anterolistesi di {lv} che si accentua in flessione"
    ),
    "retrolisthesis": "in estensione si evidenzia retrolistesi di {lv}",
}

_NEGATIVE: dict[str, list[str]] = {
    "instrumentation": [
        "non mezzi di sintesi",
        "esiti di rimozione dei mezzi di sintesi {span}",
        "mezzi di sintesi: rimossi",
    ],
    "loss_of_lordosis": ["lordosi lombare conservata", "fisiologica lordosi lombare mantenuta"],
    "facet_sclerosis": ["non segni di artrosi interapofisaria"],
    "sij_degeneration": [
        "articolazioni sacroiliache nei limiti",
        "non alterazioni delle sacroiliache",
    ],
    "osteophytosis": ["non osteofiti"],
    "osteoporosis": ["normale mineralizzazione ossea", "mineralizzazione ossea conservata"],
    "diffuse_degeneration": ["non significativi fenomeni degenerativi"],
    "scoliosis": ["non scoliosi", "non deviazioni scoliotiche"],
    "fractures": [
        "non fratture",
        "non si apprezzano fratture vertebrali",
        "non evidenti cedimenti somatici",
        "assenza di fratture",
    ],
    "disc_narrowing": [
        "spazi intersomatici conservati",
        "non riduzione degli spazi intersomatici",
        "spazi: conservati",
        "{lv2} di altezza conservata",
    ],
    "anterolisthesis": ["non listesi", "assenza di anterolistesi", "listesi: assenti"],
    "retrolisthesis": ["non retrolistesi"],
}

_UNCERTAIN: dict[str, list[str]] = {
    "instrumentation": ["non si esclude la presenza di mezzi di sintesi {span}"],
    "loss_of_lordosis": ["verosimile riduzione della lordosi lombare, da valutare in ortostatismo"],
    "facet_sclerosis": ["sospetta sclerosi delle faccette articolari {lv2}"],
    "sij_degeneration": ["dubbia sclerosi delle sacroiliache"],
    "osteophytosis": ["possibili piccoli osteofiti marginali"],
    "osteoporosis": ["sospetta osteopenia, da correlare con esame densitometrico"],
    "diffuse_degeneration": ["verosimili iniziali alterazioni degenerative"],
    "scoliosis": ["possibile lieve atteggiamento scoliotico, forse posturale"],
    "fractures": [
        "non si esclude frattura di {lv}",
        "sospetta frattura di {lv}, da approfondire con TC",
    ],
    "disc_narrowing": ["sospetta riduzione dello spazio intersomatico {lv2}"],
    "anterolisthesis": ["non si esclude modesta anterolistesi di {lv}"],
    "retrolisthesis": ["sospetta retrolistesi di {lv}"],
}

_OPENINGS = [
    "Esame eseguito in ortostatismo nelle proiezioni AP e LL.",
    "Rachide lombare in due proiezioni.",
    "RX rachide lombo-sacrale in ortostasi.",
    "Quesito: lombalgia.",
    "Quesito clinico: lombosciatalgia destra.",
    "",
]
_DYNAMIC_OPENING = "Eseguite anche proiezioni dinamiche in flessione ed estensione."
_POSTOP = [
    "Controllo post-operatorio.",
    "Esiti chirurgici.",
    "Controllo a distanza dall'intervento.",
]
_CLOSINGS = [
    "",
    "",
    "Si consiglia controllo clinico.",
    "Da correlare con il quadro clinico.",
    "Non altre alterazioni di rilievo.",
    "Per il resto nella norma.",
]
_JOINERS = [" e ", ", con ", ", associata a ", "; "]
_SPEECH = {
    "anterolistesi": "antero listesi",
    "retrolistesi": "retro listesi",
    "spondiloartrosi": "spondilo artrosi",
    "sacroiliache": "sacro iliache",
    "osteofitosi": "osteo fitosi",
    "intersomatico": "inter somatico",
    "L4": "elle 4",
    "L5": "elle 5",
    "L3": "elle 3",
    "lordosi": "lordosi",
    "interapofisaria": "inter apofisaria",
}
_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"

HOUSE_STYLES = {"prose": 0.5, "telegraphic": 0.1, "list": 0.15, "header": 0.15, "dictated": 0.1}
"""How often each department style is drawn (a report's style does not change its states)."""
_QUESTIONS = [
    "lombalgia",
    "lombosciatalgia sinistra",
    "sospetta frattura vertebrale",
    "scoliosi?",
    "controllo listesi",
    "valutazione pre-operatoria",
    "dolore dopo caduta, escludere frattura",
]
_SIGNATURES = ["Il medico radiologo", "Referto firmato digitalmente", "Dott. radiologo", ""]
_LEVEL_PAIR = re.compile(r"\b([LD]\d{1,2})-([LS]\d)\b")
_LEVEL_SPELLINGS = ["{a}-{b}", "{a}/{b}", "{a} {b}", "{a}{b}", "tra {a} e {b}"]
_SPOKEN_NUMBERS = {"1": "uno", "2": "due", "3": "tre", "4": "quattro", "5": "cinque"}
_MONTHS = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
]
_DOMAINS = ["libero.it", "gmail.com", "tiscali.it", "alice.it"]
_STREETS = [
    "Via Garibaldi",
    "Viale Monza",
    "Piazza Duomo",
    "Corso Buenos Aires",
    "Via Roma",
    "Via dei Mille",
    "Largo Augusto",
    "Via Padova",
]
_CITIES = ["Milano", "Monza", "Sesto San Giovanni", "Bergamo", "Pavia"]


@dataclass(frozen=True, slots=True)
class NoiseRates:
    """How the simulated radiologist departs from the images (each a probability)."""

    omit_present: dict[str, float] = field(
        default_factory=lambda: {
            "osteophytosis": 0.35,
            "sij_degeneration": 0.30,
            "facet_sclerosis": 0.25,
            "diffuse_degeneration": 0.15,
            "disc_narrowing": 0.15,
            "loss_of_lordosis": 0.15,
            "osteoporosis": 0.20,
            "scoliosis": 0.05,
            "fractures": 0.05,
            "anterolisthesis": 0.08,
            "retrolisthesis": 0.15,
            "instrumentation": 0.02,
        }
    )
    """Present on the image, not reported (per finding)."""
    hedge_present: float = 0.05
    negate_absent: float = 0.25
    hedge_absent: float = 0.02
    wrong_report: float = 0.04
    """A report that states one finding wrongly (present as absent or absent as present)."""
    dynamic_reported: float = 0.85
    """A listhesis seen only in flexion/extension is reported (when those views exist)."""
    postop_focus: float = 0.6
    """A post-operative report describes the implant and omits the other findings."""
    comparison: float = 0.2
    typo_per_word: float = 0.008
    speech_error_per_term: float = 0.1
    """A term speech recognition mangles ("antero listesi") is mangled this often."""
    identifier: float = 0.15
    """Share of reports with the name, a date or the codice fiscale in them (each)."""


DEFAULT_NOISE = NoiseRates()


@dataclass(frozen=True, slots=True)
class ReportDraft:
    """A report, what it says about each finding (four states), and what identifies in it."""

    text: str
    states: dict[str, str]
    planted: tuple[tuple[str, str], ...]
    """(type, value): name, date, codice_fiscale, phone, email, address, patient_id,
    accession_number."""


def _spell_levels(sentences: list[str], styler: np.random.Generator) -> list[str]:
    """One department's spelling of disc levels ("L4-L5", "L4/L5", "L4 L5", "L4L5"),
    and now and then "tra L4 e L5"."""
    spelling = _pick(styler, _LEVEL_SPELLINGS[:-1])
    out = []
    for sentence in sentences:
        form = _LEVEL_SPELLINGS[-1] if styler.random() < 0.1 else spelling
        out.append(_LEVEL_PAIR.sub(functools.partial(_spell_pair, form), sentence))
    return out


def _spell_pair(form: str, match: re.Match[str]) -> str:
    return form.format(a=match.group(1), b=match.group(2))


def _dictate(text: str, styler: np.random.Generator) -> str:
    """Speech recognition with spoken punctuation and levels said aloud ("elle quattro")."""
    if styler.random() < 0.5:
        text = re.sub(
            r"\b([LS])([1-5])\b",
            lambda m: f"{'elle' if m.group(1) == 'L' else 'S'} {_SPOKEN_NUMBERS[m.group(2)]}",
            text,
        )
    text = re.sub(r"\.(?=\s|$)", " punto", text)
    return re.sub(r",(?=\s)", " virgola", text)


def _lay_out(
    style: str, head: list[str], sentences: list[str], closing: str, styler: np.random.Generator
) -> str:
    """The report as one department writes it; the findings' sentences are unchanged."""
    head_text = " ".join(h for h in head if h)
    if style == "dictated":
        sentences = [_dictate(sentence, styler) for sentence in sentences]
    if style == "list":
        bullet = _pick(styler, ["- ", "· ", ""])
        body = "\n".join(bullet + sentence for sentence in sentences)
    elif style == "telegraphic":
        opening = _pick(styler, ["Rx LS 2 proiezioni.", "RX rachide LS AP+LL.", ""])
        head_text = " ".join(h for h in (opening, *head) if h and h not in _OPENINGS)
        body = " ".join(sentences)
    else:
        body = " ".join(sentences)
    if style == "header":
        question = _pick(styler, _QUESTIONS)
        label = _pick(styler, ["Quesito clinico", "Quesito", "Indicazione", "Notizie cliniche"])
        parts = [f"{label}: {question}", "Tecnica: proiezioni AP e LL in ortostatismo."]
        parts += [head_text, f"Referto: {body}" if body else "", closing]
        parts.append(_pick(styler, _SIGNATURES))
    else:
        parts = [head_text, body, closing]
    return "\n".join(part for part in parts if part)


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _fill(template: str, level: int, severity: int, rng: np.random.Generator) -> str:
    sev = _pick(rng, _SEV[max(min(severity, 3), 1)])
    values = {
        "sev": sev,
        "Sev": sev.capitalize(),
        "lv": LEVELS[level],
        "lvn": LEVELS[level + 1] if level < 5 else "S1",
        "lv2": f"{LEVELS[level]}-{LEVELS[level + 1] if level < 5 else 'S1'}",
        "span": f"{LEVELS[max(level - 1, 1)]}-{LEVELS[min(level + 1, 5)] if level < 5 else 'S1'}",
        "side": _pick(rng, ["destro-convessa", "sinistro-convessa", "levo-convessa"]),
        "conv": _pick(rng, ["destra", "sinistra"]),
        "grade": _pick(rng, ["I", "primo", "II"]),
    }
    return template.format(**values)


_ODD = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        [
            1,
            0,
            5,
            7,
            9,
            13,
            15,
            17,
            19,
            21,
            1,
            0,
            5,
            7,
            9,
            13,
            15,
            17,
            19,
            21,
            2,
            4,
            18,
            20,
            11,
            3,
            6,
            8,
            12,
            14,
            16,
            10,
            22,
            25,
            24,
            23,
        ],
        strict=True,
    )
)


def codice_fiscale(family: str, given: str, birth: dt.date, sex: str, place: str = "F205") -> str:
    """A well-formed Italian fiscal code (with its check letter) for a simulated person."""

    def consonants(text: str) -> tuple[list[str], list[str]]:
        letters = [c for c in text.upper() if c.isalpha()]
        return [c for c in letters if c not in "AEIOU"], [c for c in letters if c in "AEIOU"]

    fc, fv = consonants(family)
    family_part = ("".join(fc + fv) + "XXX")[:3]
    gc, gv = consonants(given)
    given_part = gc[0] + gc[2] + gc[3] if len(gc) >= 4 else ("".join(gc + gv) + "XXX")[:3]
    day = birth.day + (40 if sex == "F" else 0)
    month = "ABCDEHLMPRST"[birth.month - 1]
    body = f"{family_part}{given_part}{birth.year % 100:02d}{month}{day:02d}{place}"
    total = sum(
        _ODD[c] if i % 2 == 0 else (int(c) if c.isdigit() else ord(c) - 65)
        for i, c in enumerate(body)
    )
    return body + chr(65 + total % 26)


def _typos(text: str, rng: np.random.Generator, noise: NoiseRates) -> str:
    words = text.split(" ")
    for i, word in enumerate(words):
        bare = word.strip(".,;:")
        if bare in _SPEECH and rng.random() < noise.speech_error_per_term:
            words[i] = word.replace(bare, _SPEECH[bare])
            continue
        if len(bare) < 5 or rng.random() >= noise.typo_per_word:
            continue
        j = int(rng.integers(1, len(bare) - 1))
        kind = int(rng.integers(4))
        if kind == 0:
            bare2 = bare[:j] + bare[j + 1] + bare[j] + bare[j + 2 :]
        elif kind == 1:
            bare2 = bare[:j] + bare[j + 1 :]
        elif kind == 2:
            bare2 = bare[:j] + bare[j] + bare[j:]
        else:
            bare2 = bare[:j] + _KEYBOARD[int(rng.integers(26))] + bare[j + 1 :]
        words[i] = word.replace(bare, bare2)
    return " ".join(words)


def write_report(
    seen: dict[str, int],
    levels: dict[str, int],
    rng: np.random.Generator,
    *,
    family: str,
    given: str,
    birth: dt.date,
    sex: str,
    study_date: dt.date,
    dynamic_only: dict[str, int] | None = None,
    noise: NoiseRates = DEFAULT_NOISE,
    patient_id: str = "",
    accession_number: str = "",
) -> ReportDraft:
    """Write the report of one study.

    Parameters
    ----------
    seen
        Severity per finding of what the standing views show.
    levels
        Level (0 = D12 … 5 = L5) of each focal finding.
    dynamic_only
        Listheses seen only in the flexion/extension views of this study.
    """
    states: dict[str, str] = {}
    clauses: list[str] = []
    postop = seen.get("instrumentation", 0) > 0 and rng.random() < noise.postop_focus
    wrong = str(rng.choice(list(_POSITIVE))) if rng.random() < noise.wrong_report else None
    for key in _POSITIVE:
        level = levels.get(key, int(rng.integers(3, 6)))
        present = seen.get(key, 0) > 0
        if key == wrong:
            present = not present
        draw = rng.random()
        if postop and key != "instrumentation" and not (present and key == "fractures"):
            states[key] = "not_mentioned"
            continue
        if present:
            if draw < noise.omit_present.get(key, 0.1):
                states[key] = "not_mentioned"
            elif draw < noise.omit_present.get(key, 0.1) + noise.hedge_present:
                states[key] = "uncertain"
                clauses.append(_fill(_pick(rng, _UNCERTAIN[key]), level, 1, rng))
            else:
                states[key] = "positive"
                clauses.append(
                    _fill(_pick(rng, _POSITIVE[key]), level, max(seen.get(key, 1), 1), rng)
                )
            continue
        if dynamic_only and dynamic_only.get(key) and draw < noise.dynamic_reported:
            states[key] = "positive"
            clauses.append(_fill(_DYNAMIC[key], level, dynamic_only[key], rng))
        elif draw < noise.hedge_absent:
            states[key] = "uncertain"
            clauses.append(_fill(_pick(rng, _UNCERTAIN[key]), level, 1, rng))
        elif draw < noise.hedge_absent + noise.negate_absent:
            states[key] = "negative"
            clauses.append(_fill(_pick(rng, _NEGATIVE[key]), level, 1, rng))
        else:
            states[key] = "not_mentioned"
    if "non listesi" in clauses and states.get("retrolisthesis") == "not_mentioned":
        states["retrolisthesis"] = "negative"  # no slip either way, as an annotator reads it
    order = [clauses[i] for i in rng.permutation(len(clauses))]
    sentences: list[str] = []
    while order:
        first = order.pop(0)
        if order and rng.random() < 0.3:
            first = first + _pick(rng, _JOINERS) + order.pop(0)
        sentences.append(first[0].upper() + first[1:] + ".")
    planted: list[tuple[str, str]] = []
    head = [_pick(rng, _POSTOP) if postop else _pick(rng, _OPENINGS)]
    if dynamic_only is not None:
        head.append(_DYNAMIC_OPENING)
    if rng.random() < noise.identifier:
        written = (
            f"{given.title()} {family.title()}"
            if rng.random() < 0.5
            else (f"{'Sig.ra' if sex == 'F' else 'Sig.'} {family.title()}")
        )
        planted.append(("name", written))
        head.insert(0, f"Paziente: {written}." if written[0] != "S" else f"{written}.")
    if rng.random() < noise.identifier / 3:
        code = codice_fiscale(family, given, birth, sex)
        planted.append(("codice_fiscale", code))
        head.insert(0, f"CF {code}.")
    if rng.random() < noise.identifier / 4:
        phone = (
            f"02 {rng.integers(1000, 9999)} {rng.integers(1000, 9999)}"
            if rng.random() < 0.5
            else f"3{rng.integers(20, 99)} {rng.integers(1000000, 9999999)}"
        )
        planted.append(("phone", phone))
        head.append(f"Recapito tel. {phone}.")
    if rng.random() < noise.identifier / 6:
        email = f"{given.lower()}.{family.lower().replace(' ', '')}@{_pick(rng, _DOMAINS)}"
        planted.append(("email", email))
        head.append(f"Copia a {email}.")
    if rng.random() < noise.identifier / 5:
        street = f"{_pick(rng, _STREETS)} {rng.integers(1, 200)}"
        address = f"{street}, {rng.integers(10000, 99999)} {_pick(rng, _CITIES)}"
        planted.append(("address", street))
        head.append(f"Residente in {address}.")
    if patient_id and rng.random() < noise.identifier / 5:
        planted.append(("patient_id", patient_id))
        head.append(f"Cartella n. {patient_id}.")
    if accession_number and rng.random() < noise.identifier / 5:
        planted.append(("accession_number", accession_number))
        head.append(f"Accesso {accession_number}.")
    if rng.random() < noise.comparison or rng.random() < noise.identifier:
        prior = study_date - dt.timedelta(days=int(rng.integers(180, 1500)))
        if rng.random() < 0.7:
            date_text = prior.strftime("%d/%m/%Y")
        else:
            date_text = f"{prior.day} {_MONTHS[prior.month - 1]} {prior.year}"
        planted.append(("date", date_text))
        head.append(
            f"Confronto con precedente esame del {date_text}: quadro "
            f"{_pick(rng, ['sostanzialmente invariato', 'in lieve evoluzione'])}."
        )
    # Typing errors word by word: the same draws as over the whole body.
    sentences = [_typos(sentence, rng, noise) for sentence in sentences]
    closing = _pick(rng, _CLOSINGS)
    # The department's style from its own generator, so that the random stream the
    # rest of the simulation draws from is the same whatever the style.
    styler = np.random.default_rng(zlib.crc32(f"{family}|{given}|{study_date}".encode()))
    style = str(styler.choice(list(HOUSE_STYLES), p=list(HOUSE_STYLES.values())))
    if style == "prose":
        parts = (" ".join(h for h in head if h), " ".join(sentences), closing)
        text = "\n".join(part for part in parts if part)
    else:
        text = _lay_out(style, head, _spell_levels(sentences, styler), closing, styler)
    if rng.random() < 0.1:
        text = text.upper()
    return ReportDraft(text=text, states=states, planted=tuple(planted))


@dataclass(frozen=True, slots=True)
class IdentifierDrill:
    """A report written with every kind of identifier planted often, and whose they are."""

    draft: ReportDraft
    patient_name: str
    patient_id: str
    accession_number: str
    header: tuple[tuple[str, str], ...] = ()
    """(DICOM keyword, value) of the other identifiers the study's header holds, each of
    which the report also mentions (``draft.planted`` names them by category)."""


_DRILL_FAMILIES = ["ROSSI", "BIANCHI", "ESPOSITO", "DE LUCA", "GALLO", "COSTA", "LEONE", "RIZZO"]
_DRILL_GIVEN = {
    "F": ["MARIA", "ANNA", "GIULIA", "CHIARA"],
    "M": ["MARIO", "LUCA", "PAOLO", "ANDREA"],
}


def identifier_drill(index: int, seed: int = 99) -> IdentifierDrill:
    """Report ``index`` of a drill for measuring text de-identification (issue 5)."""
    rng = np.random.default_rng([seed, index])
    sex = "F" if index % 2 else "M"
    family, given = _pick(rng, _DRILL_FAMILIES), _pick(rng, _DRILL_GIVEN[sex])
    patient_id, accession = f"MRN{rng.integers(10**7, 10**8)}", f"ACC999{index:07d}"
    draft = write_report(
        {key: int(rng.integers(0, 3)) for key in _POSITIVE},
        {},
        rng,
        family=family,
        given=given,
        birth=dt.date(1950, 1, 1) + dt.timedelta(days=int(rng.integers(0, 15000))),
        sex=sex,
        study_date=dt.date(2017, 5, 2),
        noise=NoiseRates(identifier=1.0, comparison=0.5),
        patient_id=patient_id,
        accession_number=accession,
    )
    header, mentions, planted = _header_mentions(rng)
    text = draft.text + "\n" + " ".join(mentions)
    draft = ReportDraft(text=text, states=draft.states, planted=draft.planted + planted)
    return IdentifierDrill(draft, f"{family}^{given}", patient_id, accession, header)


_DRILL_INSTITUTIONS = [
    ("Presidio Ospedaliero San Gerardo", "San Gerardo"),
    ("Azienda Ospedaliera Niguarda Ca' Granda", "Niguarda"),
    ("IRCCS Istituto Ortopedico Galeazzi", "Galeazzi"),
    ("Ospedale Civile di Legnano", "Civile di Legnano"),
]
_DRILL_DEPARTMENTS = ["UOC Radiologia Ortopedica", "Diagnostica per Immagini PS", "UOS RX Sala 4"]
_DRILL_PHYSICIANS = ["FUMAGALLI^ERNESTO", "BRAMBILLA^ILARIA", "DELLA VALLE^GIORGIO", "NERI^SARA"]


def _header_mentions(
    rng: np.random.Generator,
) -> tuple[tuple[tuple[str, str], ...], list[str], tuple[tuple[str, str], ...]]:
    """Identifiers a header holds besides the patient's, and the sentences that mention them
    in a report the way people write them (the header's spelling or a shorter one)."""
    institution, short = _DRILL_INSTITUTIONS[int(rng.integers(len(_DRILL_INSTITUTIONS)))]
    department = _pick(rng, _DRILL_DEPARTMENTS)
    physician = _pick(rng, _DRILL_PHYSICIANS)
    family, _, given = physician.partition("^")
    station = f"RX{rng.integers(1, 9)}{_pick(rng, ['SALA', 'PS', 'ORTO'])}"
    serial = f"SN{rng.integers(10**6, 10**7)}{_pick(rng, ['A', 'B', 'X'])}"
    other_id = f"TS{rng.integers(10**9, 10**10)}"  # tessera sanitaria
    phone = f"0{rng.integers(2, 99)} {rng.integers(100, 999)} {rng.integers(1000, 9999)}"
    street = f"{_pick(rng, _STREETS)} {rng.integers(1, 200)}"
    written_physician = _pick(
        rng, [f"Dott. {given.title()} {family.title()}", f"dr. {family.lower()}", family]
    )
    mentions = [
        f"Richiesta del {written_physician}.",
        f"Esame eseguito presso {_pick(rng, [institution, short])}, {department},",
        f"apparecchio {station} (matricola {serial}).",
        f"Tessera sanitaria {other_id}; recapito {phone}; domicilio {street}.",
    ]
    header = (
        ("ReferringPhysicianName", physician),
        ("InstitutionName", institution),
        ("InstitutionalDepartmentName", department),
        ("StationName", station),
        ("DeviceSerialNumber", serial),
        ("OtherPatientIDs", other_id),
        ("PatientTelephoneNumbers", phone.replace(" ", "")),
        ("PatientAddress", f"{street}, {_pick(rng, _CITIES)}"),
    )
    planted = (
        ("referring_physician", family),
        ("institution", short),
        ("department", department),
        ("station", station),
        ("device_serial", serial),
        ("other_patient_id", other_id),
        ("header_phone", phone),
        ("header_address", street),
    )
    return header, mentions, planted
