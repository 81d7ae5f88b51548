"""Packaging beyond what setup.cfg can say (everything else is there).

The Alembic environment and its revisions live in the top-level ``alembic/`` folder
(not a package, so it shadows no library); they ship inside the wheel as
``db/migrations/``, where :mod:`db.migrate` finds them in an installed copy.
"""

from setuptools import find_namespace_packages, setup

TOP = ["pacslabel", "pacsbridge", "simhospital", "labeller", "trainer", "db", "scoring"]

setup(
    packages=[
        *find_namespace_packages(
            include=[name for top in TOP for name in (top, f"{top}.*")], exclude=["*.__pycache__"]
        ),
        "db.migrations",
        "db.migrations.versions",
    ],
    package_dir={"db.migrations": "alembic"},
)
