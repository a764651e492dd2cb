"""Serving: the shared inference engine, the OpenAI-compatible API and the web UI."""
