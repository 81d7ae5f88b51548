"""scoring: the figures a labeller and an image model are judged by, computed once.

One confusion type (:class:`Confusion`: the reference study's Tables 1–3 columns,
each ``None`` where it is undefined — an empty set has no accuracy), one AUC per
finding (:func:`aucs_by_finding`) and one way to print a figure
(:func:`format_number`). The labeller and the trainer both build on it; it imports
neither (numpy and scikit-learn only).
"""

from scoring.confusion import Confusion, aucs_by_finding, format_number, roc_auc

__all__ = ["Confusion", "aucs_by_finding", "format_number", "roc_auc"]
