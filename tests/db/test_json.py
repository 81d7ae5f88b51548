"""JSON columns hold valid JSON on both databases: NaN and infinities become null."""

from __future__ import annotations

import json

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db import Model, ModelMode, make_engine, upgrade


def test_non_finite_numbers_are_stored_as_null(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            session.add(
                Model(
                    version="m",
                    architecture="resnet18",
                    mode=ModelMode.ONE_STEP,
                    task="t",
                    findings=["a"],
                    path="p",
                    config={"lr": 0.001},
                    manifest_hash="h",
                    code_version="c",
                    metrics={
                        "final_loss": float("nan"),
                        "held_out": {"a": {"auc": float("inf")}},
                        "curve": [1.0, float("-inf")],
                    },
                    thresholds={},
                )
            )
            session.commit()
            metrics = session.scalar(select(Model.metrics))
        assert metrics == {
            "final_loss": None,
            "held_out": {"a": {"auc": None}},
            "curve": [1.0, None],
        }
        with engine.connect() as connection:  # the stored text is JSON any reader accepts
            raw = connection.execute(text("SELECT CAST(metrics AS TEXT) FROM models")).scalar()
        assert json.loads(str(raw), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    finally:
        engine.dispose()
