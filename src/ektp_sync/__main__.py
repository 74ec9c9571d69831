"""`python -m ektp_sync` is the `ektp-sync` command."""

from ektp_sync.cli import main

main()
