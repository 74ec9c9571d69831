"""Chaos soak: records through a faulty link while the office and the centre are SIGKILLed."""
