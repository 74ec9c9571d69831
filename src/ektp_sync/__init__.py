"""ektp-sync: e-KTP enrolment from a Disdukcapil office to the centre, reliably over bad links."""

__version__ = "0.1.0"
