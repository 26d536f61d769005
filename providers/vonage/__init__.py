"""Vonage AI Studio Insights: one Elasticsearch-backed search endpoint over conversations
(`/insights/sessions`, windows of at most 60 days, caller-chosen order) and day-scoped getters."""
