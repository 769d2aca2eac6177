"""Human review of uncertain pairs: the queue and decisions (kept, they win in later runs)."""
