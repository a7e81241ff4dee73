"""Thin Lambda handlers: Powertools decorators, parse the event into a model, call the core, return a
model. All the logic is in ``customizer``."""
