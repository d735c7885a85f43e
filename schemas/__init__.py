"""Contracts shared by the intake, router and cpias services: API bodies, events, topics."""
