"""The resolution state: stable golden IDs across batches, sealing, run files, graph sync."""
