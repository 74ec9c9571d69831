"""The benchmark suite of ektp-sync (issue 5): `python -m bench [--quick] [--only NAME]`.

Not tests: every figure is measured side by side with its reference in the same run, so the
ratio holds on a noisy, shared machine, and is compared with a target rather than asserted.
"""
