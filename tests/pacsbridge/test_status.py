"""DIMSE statuses in words, from one table per service."""

from __future__ import annotations

from pacsbridge.status import Service, category, describe, is_pending, is_success, is_warning


def test_statuses_read_as_the_standard_names_them() -> None:
    assert describe(0xA801, Service.C_MOVE) == "0xA801 (Failure: Move destination unknown)"
    assert describe(0xA700, Service.C_STORE) == "0xA700 (Failure: Refused: Out of Resources)"
    assert "Cannot Understand" in describe(0xC123, Service.C_STORE)
    assert describe(0x0000, Service.C_FIND) == "0x0000 (Success)"
    assert "not a status of C-FIND" in describe(0x1234, Service.C_FIND)


def test_categories_decide_what_a_response_means() -> None:
    assert is_success(0x0000) and not is_success(0xFF00)
    assert is_pending(0xFF00, Service.C_FIND) and is_pending(0xFF01, Service.C_FIND)
    assert is_pending(0xFF00, Service.C_MOVE) and not is_pending(0x0000, Service.C_MOVE)
    # C-STORE warnings still store the instance (PS3.4 B.2.3).
    assert all(is_warning(code, Service.C_STORE) for code in (0xB000, 0xB006, 0xB007))
    assert not is_warning(0xA700, Service.C_STORE)
    assert is_warning(0xB000, Service.C_MOVE)  # sub-operations failed
    assert category(0xFE00, Service.C_GET) == "Cancel"
