"""De-duplication (penunggalan): the in-memory gallery, the decision engine and its worker loop."""
