"""CPias errors; api/errors.py maps each to one status code."""

from __future__ import annotations


class CpiasError(Exception):
    pass


class CaseNotFound(CpiasError):
    pass


class LinkRefused(CpiasError):
    pass
