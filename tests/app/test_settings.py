"""Settings: defaults < TOML file < environment < command line; bad values name their key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pacslabel.errors import InvalidSettings
from pacslabel.settings import Settings, load_settings


def test_defaults(settings: Settings, tmp_path: Path) -> None:
    assert settings.pacs.port == 104
    assert settings.training.learning_rate == 0.001  # the paper's
    assert settings.training.image_size == 512
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'data' / 'pacslabel.db')}"


def test_layers_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "pacslabel.toml"
    config.write_text(
        'log_level = "DEBUG"\n[pacs]\nae_title = "ORTHANC"\nport = 4242\n'
        "[training]\nepochs = 5\nbatch_size = 8\n"
    )
    monkeypatch.setenv("PACSLABEL_PACS__PORT", "5555")
    monkeypatch.setenv("PACSLABEL_TRAINING__EPOCHS", "7")
    loaded = load_settings(config, data_dir=tmp_path / "cli", log_level=None)
    assert loaded.pacs.ae_title == "ORTHANC"  # file
    assert loaded.pacs.port == 5555  # environment beats file
    assert loaded.training.epochs == 7
    assert loaded.training.batch_size == 8  # file, untouched by environment
    assert loaded.log_level == "DEBUG"  # a None CLI value does not hide the file
    assert loaded.data_dir == tmp_path / "cli"  # command line beats all


def test_invalid_value_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[pacs]\nport = 70000\n")
    with pytest.raises(InvalidSettings, match=r"invalid setting pacs\.port"):
        load_settings(config)


def test_invalid_environment_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACSLABEL_TRAINING__LEARNING_RATE", "-1")
    with pytest.raises(InvalidSettings, match=r"training\.learning_rate"):
        load_settings()


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text('[pacs]\nae_titel = "X"\n')
    with pytest.raises(InvalidSettings, match=r"pacs\.ae_titel"):
        load_settings(config)


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettings, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[pacs\n")
    with pytest.raises(InvalidSettings, match="not TOML"):
        load_settings(broken)


def test_redacted_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACSLABEL_DEID__LINKAGE_KEY", "very-secret")
    loaded = load_settings(database_url="postgresql://user:pw@db.example/pacs")
    shown = loaded.redacted()
    assert shown["deid"]["linkage_key"] == "***"
    assert "pw" not in shown["database_url"] and "db.example/pacs" in shown["database_url"]


def test_ae_title_rules() -> None:
    with pytest.raises(InvalidSettings, match=r"local\.ae_title"):
        load_settings(local={"ae_title": "A" * 17})


def test_the_example_configuration_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PACSLABEL_")]:
        monkeypatch.delenv(name)
    example = Path(__file__).parents[2] / "deploy" / "pacslabel.example.toml"
    settings = load_settings(example)
    assert settings.pacs.port == 4242 and settings.schedule.train_at == "02:00"
    assert settings.schedule.ingest_every_minutes == 10


def test_a_database_password_is_never_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Neither in the settings dump nor in the start-up log line at DEBUG, nor when the
    database cannot be reached (issue 18)."""
    from pacslabel.cli.main import main

    for name in [n for n in os.environ if n.startswith("PACSLABEL_")]:
        monkeypatch.delenv(name)
    url = "postgresql+psycopg://reader:s3cr3t-pw@127.0.0.1:1/pacs"
    base = ["--data-dir", str(tmp_path), "--database-url", url, "--log-level", "DEBUG"]
    assert main([*base, "settings"]) == 0
    assert main([*base, "status"]) != 0  # nothing listens on port 1
    out = capsys.readouterr()
    assert "127.0.0.1:1/pacs" in out.out + out.err
    assert "s3cr3t-pw" not in out.out + out.err
