"""Renderers: text, JSON, markdown, HTML."""
