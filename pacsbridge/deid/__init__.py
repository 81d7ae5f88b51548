"""De-identification of DICOM headers: the PS3.15 E.1-1 profile as data (``table.csv``),
its options (E.3), and :func:`anonymise`, which applies them to one instance."""

from pacsbridge.deid.anonymise import AnonymisedInstance, OriginalIdentity, Pseudonymiser, anonymise
from pacsbridge.deid.profile import DeidOptions, Profile, ProfileRow, load_profile

__all__ = [
    "AnonymisedInstance",
    "DeidOptions",
    "OriginalIdentity",
    "Profile",
    "ProfileRow",
    "Pseudonymiser",
    "anonymise",
    "load_profile",
]
