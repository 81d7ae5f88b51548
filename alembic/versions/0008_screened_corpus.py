"""the research corpus is the studies whose pixels were screened for burned-in text

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 00:00:00

The cache stage now screens every image for burned-in text before a study is cached;
a labelled study has not been screened yet. ``research_studies`` (and so
``research_cohort``, the workbench and exports) shows studies from ``cached`` on, no
longer ``labelled`` ones, and ``research_label_provenance`` (so ``research_labels`` and
``research_image_labels``) the labels of those studies only: a study quarantined for
its pixels leaves every view. The views are rewritten from revision 0005's definitions
with those changes; ``research_cohort``, which reads them, is dropped and written
again by the next command (its recorded digest is cleared).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "('labelled', 'cached', 'predicted', 'reported')"
_NEW = "('cached', 'predicted', 'reported')"


def _revision_0005() -> ModuleType:
    path = Path(__file__).with_name('0005_research_views.py')
    spec = importlib.util.spec_from_file_location('pacslabel_migration_0005', path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: The views rewritten, in the order they are created (each reads the ones before).
_VIEWS = ('research_label_provenance', 'research_labels', 'research_image_labels',
          'research_studies')
_PROVENANCE_FROM = 'FROM finding_labels l JOIN studies s ON s.id = l.study_id'


def _definitions(screened: bool) -> dict[str, str]:
    views = _revision_0005().VIEWS
    sql = {name: views[name] for name in _VIEWS}
    assert _OLD in sql['research_studies'] and _PROVENANCE_FROM in sql[
        'research_label_provenance'
    ], 'the research views are not as revision 0005 wrote them'
    if screened:
        sql['research_studies'] = sql['research_studies'].replace(_OLD, _NEW)
        sql['research_label_provenance'] = sql['research_label_provenance'].replace(
            _PROVENANCE_FROM, f'{_PROVENANCE_FROM}\nWHERE s.state IN {_NEW}'
        )
    return sql


def _rewrite(screened: bool) -> None:
    definitions = _definitions(screened)
    op.execute('DROP VIEW IF EXISTS research_cohort')
    op.execute("DELETE FROM site_settings WHERE key = 'cohort_view'")
    for name in reversed(_VIEWS):
        op.execute(f'DROP VIEW {name}')
    for name in _VIEWS:
        op.execute(f'CREATE VIEW {name} AS {definitions[name]}')
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        role = _revision_0005().READONLY_ROLE
        if bind.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").scalar():
            for name in _VIEWS:
                op.execute(f'GRANT SELECT ON {name} TO {role}')


def upgrade() -> None:
    _rewrite(screened=True)


def downgrade() -> None:
    _rewrite(screened=False)
