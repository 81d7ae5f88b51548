"""De-identification of free text (report text and cleaned header attributes)."""

from __future__ import annotations

from pacsbridge import IdentifierKind, KnownIdentifier, deidentify_text


def test_known_names_ids_and_dates_are_removed() -> None:
    text = (
        "Paziente: Mario Rossi, ID MRN12345678. Esame del 12/03/2016. "
        "Confronto con precedente del 01.02.2015. Scoliosi lombare. ROSSI riferisce dolore."
    )
    known = [KnownIdentifier(IdentifierKind.PATIENT_ID, "MRN12345678")]
    out = deidentify_text(text, known, names=["ROSSI^MARIO"], date_shift_days=10)
    assert "Rossi" not in out and "ROSSI" not in out and "Mario" not in out
    assert "MRN12345678" not in out
    assert "12/03/2016" not in out and "02/03/2016" in out  # shifted, format kept
    assert "22.01.2015" in out
    assert "Scoliosi lombare" in out


def test_titles_codice_fiscale_phone_email() -> None:
    text = (
        "Richiesta del Dott. Bianchi. Sig.ra Verdi Anna, CF RSSMRA58C12F205X, "
        "tel. 02 1234567, cell 333 1234567, mail anna.verdi@example.it."
    )
    out = deidentify_text(text)
    for leaked in ("Bianchi", "Verdi", "RSSMRA58C12F205X", "1234567", "example.it"):
        assert leaked not in out
    assert "Dott. [NOME]" in out and "[CF]" in out and "[TEL]" in out and "[EMAIL]" in out


def test_without_shift_dates_are_replaced() -> None:
    assert deidentify_text("Esame del 05-06-17.") == "Esame del [DATA]."


def test_levels_and_measures_survive() -> None:
    text = "Anterolistesi di L4 su L5 di 6 mm; spazio L5-S1 ridotto."
    assert deidentify_text(text, names=["NERI^LUCA"]) == text


def test_a_title_before_a_known_name_still_takes_the_next_name() -> None:
    # "Luca" is known (removed first); "Verdi" is known only to another study.
    out = deidentify_text("Il radiologo: Dott. Luca Verdi", names=["BIANCHI^LUCA"])
    assert "Verdi" not in out and out.endswith("Dott. [NOME]")
