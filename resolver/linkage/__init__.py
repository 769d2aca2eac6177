"""Linkage: comparison, the match model, clustering, survivorship, mention subjects, evaluation."""
