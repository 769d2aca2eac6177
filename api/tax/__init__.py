"""Tax-coordination findings (综合治税) for tax officers: list, workflow, summary."""
