"""Pure domain rules of e-KTP enrolment: NIK, biometrics, record states, the decision table.

Nothing here does I/O or imports a web, database or HTTP library, so every rule is testable alone.
"""
