"""The sync engine of the local node: pushes the outbox up, pulls decisions down."""
