"""The annotation workbench: a browser application for annotators (label the AP +
lateral pair beside its de-identified report, with the keyboard, in a queue ordered
by the model's uncertainty or its disagreement with the report) and researchers
(prevalence, labels by source, model AUC and ROC). ``pacslabel workbench``."""

from pacslabel.workbench.accounts import Role, add_user
from pacslabel.workbench.app import create_app

__all__ = ["Role", "add_user", "create_app"]
