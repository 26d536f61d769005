"""Vectara Agents API v2: chat agents whose sessions are text conversations, listed one agent
at a time, in no promised order, with the conversation itself in a paged event stream."""
