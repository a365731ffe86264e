"""Bounce messages and their judgement: classify (pure), parse (pure), intake."""
