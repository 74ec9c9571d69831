"""The office node's store: its tables, migrations and every SQL statement it runs.

`tables` (schema), `transitions` (every change of a record's state), `queue` (uploads),
`decisions` (the centre's answers), `records` (what the service asks for).
"""
