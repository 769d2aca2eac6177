"""credgraph: the command-line composition layer over resolver, graph, credit and api."""

__version__ = "0.1.0"
