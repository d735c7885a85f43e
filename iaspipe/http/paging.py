"""The paging of list answers, alike on every service."""

from typing import Annotated

from fastapi import Query

# How many items of a list to skip before the page: the same bound on every list.
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
