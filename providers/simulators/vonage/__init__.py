"""The Vonage AI Studio Insights simulator: the server, its conversation documents and the
Elasticsearch-style filter evaluation behind `filter_by`."""

from providers.simulators.vonage.server import VonageSimulator

__all__ = ["VonageSimulator"]
