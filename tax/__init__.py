"""Tax coordination (综合治税): declarative rules over the graph's facts and declarations,
findings with evidence stored back in the graph, and the officers' workflow on them."""
