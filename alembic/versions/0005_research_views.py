"""research views, labeller registry, model splits and metrics, human label provenance,
workbench accounts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:00:00

Researchers query stable views (``research_*``), the same SQL on SQLite and
PostgreSQL, instead of the tables. What a view calls the *current* label is
decided by the registry (``labeller_versions.is_current``, set by the label
stage for the configured labeller), never by comparing version strings. Image
models record which split each study was in (``model_studies``) and their
per-finding figures as rows (``model_metrics``). Human labels say whether they
describe the report or the images, who gave them, and whether they are the
frozen test set. The annotation workbench has local accounts and server-side
sessions. On PostgreSQL a read-only role ``pacslabel_research`` may read
the views and nothing else.

Existing databases: each labeller version that has labelled is registered; the
one of each source whose labels are newest becomes current (a BERT labeller
only if its labels are newer than the rules'); human labels of version
``report:<annotator>`` get their annotator; registered image models' held-out
metrics become rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READONLY_ROLE = 'pacslabel_research'

# The one definition of the current label: for what a report says, a human label
# first, then the current nlp labeller's, then the current rules'; for what the
# images show, the newest human label.
_CHOICE = """
    SELECT c.id FROM finding_labels c
    LEFT JOIN labeller_versions v ON v.version = c.source_version
    WHERE c.study_id = l.study_id AND c.finding = l.finding AND c.target = l.target
      AND (c.source = 'human' OR v.is_current = TRUE)
    ORDER BY CASE c.source WHEN 'human' THEN 0 WHEN 'nlp' THEN 1 ELSE 2 END, c.id DESC
    LIMIT 1
"""

_CORPUS = "('labelled', 'cached', 'predicted', 'reported')"

_CURRENT_MODEL = "m.status = 'current' AND m.mode <> 'nlp'"


def _image(role: str) -> str:
    return f"""(SELECT d.value || '/' || i.path FROM images i JOIN site_settings d
        ON d.key = 'data_dir'
        WHERE i.study_id = s.id AND i.is_paired = TRUE AND i.view_role = '{role}'
        ORDER BY i.id LIMIT 1)"""


def _years(unit: str, divisor: int) -> str:
    return f"WHEN '{unit}' THEN CAST(substr(s.patient_age, 1, 3) AS INTEGER) / {divisor}"


VIEWS: dict[str, str] = {
    'research_label_provenance': f"""
SELECT s.study_uid, l.finding, l.target, l.state, l.probability, l.source, l.source_version,
       l.annotator, CASE WHEN l.test_set = TRUE THEN 1 ELSE 0 END AS test_set,
       CASE WHEN l.id = ({_CHOICE}) THEN 1 ELSE 0 END AS is_current,
       l.evidence, l.created_at AS labelled_at
FROM finding_labels l JOIN studies s ON s.id = l.study_id""",
    'research_labels': """
SELECT study_uid, finding, state, probability, source, source_version, annotator, labelled_at
FROM research_label_provenance WHERE is_current = 1 AND target = 'report'""",
    'research_image_labels': """
SELECT study_uid, finding, state, annotator, test_set, labelled_at
FROM research_label_provenance WHERE is_current = 1 AND target = 'image'""",
    'research_studies': f"""
SELECT s.study_uid, s.patient_pseudonym,
       CASE substr(s.patient_age, 4, 1) {_years('Y', 1)} {_years('M', 12)}
            {_years('W', 52)} {_years('D', 365)} END AS age_years,
       s.patient_sex AS sex, s.study_date, CAST(substr(s.study_date, 1, 4) AS INTEGER)
       AS study_year, s.study_description, s.state,
       {_image('ap')} AS ap_image, {_image('lateral')} AS lateral_image,
       COALESCE((SELECT ms.split FROM model_studies ms JOIN models m ON m.id = ms.model_id
                 WHERE ms.study_id = s.id AND {_CURRENT_MODEL} LIMIT 1), 'none') AS split,
       r.source AS report_source, r.text AS report_text
FROM studies s LEFT JOIN reports r ON r.study_id = s.id
WHERE s.state IN {_CORPUS}""",
    'research_predictions': f"""
SELECT s.study_uid, p.finding, m.version AS model_version, m.mode AS model_mode,
       p.probability, p.threshold, CASE WHEN p.positive = TRUE THEN 1 ELSE 0 END AS positive,
       COALESCE(ms.split, 'none') AS split, p.created_at AS predicted_at
FROM predictions p JOIN models m ON m.id = p.model_id AND {_CURRENT_MODEL}
JOIN studies s ON s.id = p.study_id
LEFT JOIN model_studies ms ON ms.model_id = m.id AND ms.study_id = p.study_id""",
    'research_model_metrics': """
SELECT m.version AS model_version, m.mode AS model_mode, m.status, m.created_at,
       m.promoted_at, x.evaluation, x.finding, x.n, x.positives, x.auc, x.threshold,
       x.sensitivity, x.specificity, x.evaluated_at
FROM model_metrics x JOIN models m ON m.id = x.model_id""",
    'research_labellers': """
SELECT version, source, CASE WHEN is_current = TRUE THEN 1 ELSE 0 END AS is_current,
       first_used_at, current_since
FROM labeller_versions""",
    'research_dictionary': """
SELECT view_name, column_name, description FROM research_columns""",
}

#: Columns several views share, described once.
SHARED: dict[str, str] = {
    'study_uid': 'pseudonymous Study Instance UID (2.25.…), stable across runs',
    'finding': "the finding's key in the task",
    'state': 'positive, negative, uncertain or not_mentioned',
    'probability': "a BERT labeller's probability that the finding is present",
    'source': 'human, nlp (BERT) or rules',
    'source_version': 'the labeller version (rules:<lexicon>, the BERT version, '
    'report:<annotator>, image:<annotator>)',
    'annotator': 'who gave a human label',
    'labelled_at': 'when the label was stored (UTC)',
    'test_set': '1: a human image label of the frozen test set',
    'model_version': 'the image model',
    'model_mode': '1step, 2steps or step2only',
    'status': 'current (predicts), candidate or retired',
    'created_at': 'when it was registered (UTC)',
    'promoted_at': 'when it last became current (UTC)',
}

COLUMNS: dict[str, dict[str, str]] = {
    'research_studies': {
        'patient_pseudonym': 'pseudonymous patient ID: the same patient, the same value',
        'age_years': 'age at the study in whole years, from the DICOM age string',
        'sex': 'M, F, O or empty',
        'study_date': 'study date YYYYMMDD, shifted by a per-patient offset',
        'study_year': 'year of the shifted study date',
        'study_description': 'de-identified study description',
        'state': "where the study is in the loop (labelled, cached, predicted, reported)",
        'ap_image': 'absolute path of the de-identified AP image (DICOM)',
        'lateral_image': 'absolute path of the de-identified lateral image (DICOM)',
        'split': "the current image model's split: train, held_out, human_test, none",
        'report_source': 'where the report came from: sr, pdf, ris',
        'report_text': 'de-identified report text',
    },
    'research_labels': {
        'source': 'human, nlp (BERT) or rules: human > configured labeller > rules',
    },
    'research_label_provenance': {
        'target': 'report (what the report says) or image (what the images show)',
        'test_set': '1: a human image label of the frozen test set',
        'is_current': '1: the label research_labels / research_image_labels show',
        'evidence': 'the words of the report the rule labeller matched',
    },
    'research_image_labels': {
        'state': "an annotator's label of the image pair: positive or negative",
    },
    'research_predictions': {
        'model_version': 'the current image model',
        'model_mode': '1step, 2steps or step2only',
        'probability': "the model's probability that the finding is present",
        'threshold': 'the cut-off (Youden J) the positive flag was judged at',
        'positive': '1 when probability >= threshold',
        'split': "the study's split for that model: train, held_out, human_test, none",
        'predicted_at': 'when the prediction was made (UTC)',
    },
    'research_model_metrics': {
        'evaluation': 'held_out (from training) or human_test (pacslabel model evaluate)',
        'auc': 'ROC AUC on that evaluation set (empty when a class is missing)',
        'n': 'studies scored', 'positives': 'positive studies among them',
        'threshold': 'the cut-off the sensitivity and specificity are at',
        'sensitivity': 'at that cut-off', 'specificity': 'at that cut-off',
        'evaluated_at': 'when the figures were computed (UTC)',
    },
    'research_labellers': {
        'version': 'a report labeller that has labelled studies',
        'source': 'rules or nlp',
        'is_current': '1: its labels are the ones research_labels shows (after human ones)',
        'first_used_at': 'when it was first registered',
        'current_since': 'when it last became current',
    },
    'research_dictionary': {
        'view_name': 'a research view', 'column_name': 'one of its columns',
        'description': 'what it means',
    },
}


def upgrade() -> None:
    _tables()
    connection = op.get_bind()
    _backfill(connection)
    for name, sql in VIEWS.items():
        op.execute(f'CREATE VIEW {name} AS {sql}')
    columns = sa.table('research_columns', sa.column('view_name'), sa.column('column_name'),
                       sa.column('description'))
    rows = []
    for view in VIEWS:
        names = connection.execute(sa.text(f'SELECT * FROM {view} WHERE 1 = 0')).keys()
        for name in names:  # a column described nowhere is a KeyError: describe it
            text = COLUMNS.get(view, {}).get(name) or SHARED[name]
            rows.append({'view_name': view, 'column_name': name, 'description': text})
    op.bulk_insert(columns, rows)
    if connection.dialect.name == 'postgresql':
        _readonly_role(list(VIEWS))


def _tables() -> None:
    with op.batch_alter_table('finding_labels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('target', sa.String(length=8), nullable=False,
                                      server_default='report'))
        batch_op.add_column(sa.Column('annotator', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('test_set', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index('ix_finding_labels_choice', ['study_id', 'finding', 'target'])
    op.create_table(
        'labeller_versions',
        sa.Column('version', sa.String(length=128), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('task', sa.String(length=64), nullable=False),
        sa.Column('is_current', sa.Boolean(), nullable=False),
        sa.Column('first_used_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('current_since', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_labeller_versions')),
    )
    op.create_table(
        'model_studies',
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('study_id', sa.Integer(), nullable=False),
        sa.Column('split', sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE',
                                name=op.f('fk_model_studies_model_id_models')),
        sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE',
                                name=op.f('fk_model_studies_study_id_studies')),
        sa.PrimaryKeyConstraint('model_id', 'study_id', name=op.f('pk_model_studies')),
    )
    op.create_index(op.f('ix_model_studies_study_id'), 'model_studies', ['study_id'])
    op.create_table(
        'model_metrics',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('evaluation', sa.String(length=16), nullable=False),
        sa.Column('finding', sa.String(length=40), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('positives', sa.Integer(), nullable=False),
        sa.Column('auc', sa.Float(), nullable=True),
        sa.Column('threshold', sa.Float(), nullable=True),
        sa.Column('sensitivity', sa.Float(), nullable=True),
        sa.Column('specificity', sa.Float(), nullable=True),
        sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE',
                                name=op.f('fk_model_metrics_model_id_models')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_model_metrics')),
        sa.UniqueConstraint('model_id', 'evaluation', 'finding',
                            name=op.f('uq_model_metrics_model_id_evaluation_finding')),
    )
    op.create_index(op.f('ix_model_metrics_model_id'), 'model_metrics', ['model_id'])
    op.create_table(
        'site_settings',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_site_settings')),
    )
    op.create_table(
        'workbench_users',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=256), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_workbench_users')),
    )
    op.create_table(
        'workbench_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['username'], ['workbench_users.username'], ondelete='CASCADE',
                                name=op.f('fk_workbench_sessions_username_workbench_users')),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_workbench_sessions')),
    )
    op.create_index(op.f('ix_workbench_sessions_username'), 'workbench_sessions', ['username'])
    op.create_table(
        'research_columns',
        sa.Column('view_name', sa.String(length=64), nullable=False),
        sa.Column('column_name', sa.String(length=64), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('view_name', 'column_name', name=op.f('pk_research_columns')),
    )


def _backfill(connection: sa.Connection) -> None:
    """Register the labellers that have labelled, newest labels current per source; name
    the annotators of human labels; copy image models' held-out figures into rows."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    rows = connection.execute(sa.text(
        "SELECT source, source_version, max(id) FROM finding_labels "
        "WHERE source <> 'human' GROUP BY source, source_version"
    )).all()
    newest: dict[str, tuple[int, str]] = {}
    for source, version, last in rows:
        if source not in newest or last > newest[source][0]:
            newest[source] = (last, version)
    rules_last = newest.get('rules', (0, ''))[0]
    current = {version for source, (last, version) in newest.items()
               if source == 'rules' or last > rules_last}
    for source, version, _ in rows:
        connection.execute(
            sa.text("INSERT INTO labeller_versions (version, source, task, is_current, "
                    "first_used_at, current_since) VALUES (:v, :s, '', :c, :t, :t)"),
            {'v': version, 's': source, 'c': version in current, 't': now},
        )
    connection.execute(sa.text(
        "UPDATE finding_labels SET annotator = substr(source_version, 8) "
        "WHERE source = 'human' AND source_version LIKE 'report:%'"
    ))
    _backfill_metrics(connection, now)


def _backfill_metrics(connection: sa.Connection, now: object) -> None:
    import json

    models = connection.execute(sa.text(
        "SELECT id, metrics FROM models WHERE mode <> 'nlp'"
    )).all()
    for model_id, metrics in models:
        data = json.loads(metrics) if isinstance(metrics, str) else (metrics or {})
        for evaluation in ('held_out', 'human_test'):
            for finding, figures in (data.get(evaluation) or {}).items():
                connection.execute(
                    sa.text("INSERT INTO model_metrics (model_id, evaluation, finding, n, "
                            "positives, auc, threshold, sensitivity, specificity, evaluated_at) "
                            "VALUES (:m, :e, :f, :n, :p, :a, :t, :se, :sp, :at)"),
                    {'m': model_id, 'e': evaluation, 'f': finding, 'n': figures.get('n', 0),
                     'p': figures.get('positives', 0), 'a': figures.get('auc'),
                     't': figures.get('threshold'), 'se': figures.get('sensitivity'),
                     'sp': figures.get('specificity'), 'at': now},
                )


def _readonly_role(views: list[str]) -> None:
    """Create the read-only research role where this user may, and let it read the views
    (a user without CREATEROLE leaves it to `pacslabel db grant-readonly`)."""
    op.execute(f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READONLY_ROLE}') THEN
    BEGIN
      CREATE ROLE {READONLY_ROLE} NOLOGIN;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'cannot create role {READONLY_ROLE}: no CREATEROLE privilege';
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READONLY_ROLE}') THEN
    EXECUTE 'GRANT SELECT ON {", ".join(views)} TO {READONLY_ROLE}';
  END IF;
END
$$""")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f'DROP VIEW IF EXISTS {name}')
    for table in ('workbench_sessions', 'workbench_users', 'research_columns', 'site_settings', 'model_metrics', 'model_studies',
                  'labeller_versions'):
        op.drop_table(table)
    with op.batch_alter_table('finding_labels', schema=None) as batch_op:
        batch_op.drop_index('ix_finding_labels_choice')
        batch_op.drop_column('test_set')
        batch_op.drop_column('annotator')
        batch_op.drop_column('target')
