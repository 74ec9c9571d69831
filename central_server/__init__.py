"""The central server: a FastAPI mock of Ditjen Dukcapil's centre (intake, dedup, decisions)."""
