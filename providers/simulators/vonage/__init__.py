"""The Vonage AI Studio Insights simulator: the server, the sessions it generates (`model`),
their spelling as conversation documents and the Elasticsearch-style filter evaluation behind
`filter_by`."""

from providers.simulators.vonage.server import VonageSimulator

__all__ = ["VonageSimulator"]
