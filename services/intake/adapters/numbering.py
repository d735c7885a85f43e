"""Reference numbers: unique and increasing per region and year, gaps allowed.

On PostgreSQL each region and year has its own sequence: `nextval` never waits on another
transaction and holds nothing until commit, so concurrent submissions of one region do not
queue behind each other (a rolled-back submission leaves a gap). Sequences are created for
the current and the next year when the service starts, and on demand otherwise, starting
after the highest number already given. SQLite has a single writer anyway: there a counter
row is incremented inside the submission's transaction."""

from __future__ import annotations

from schemas.reference import reference

# Sequences seen to exist, in this process: no need to look for them again.
KNOWN_SEQUENCES: set[str] = set()


def sequence_name(region_code: str, year: int) -> str:
    if not (region_code.isdigit() and len(region_code) == 2 and 1900 < year < 10000):
        raise ValueError(f"no reference sequence for region {region_code!r}, year {year}")
    return f"ias_reference_{region_code}_{year}"


# The highest number given so far (a counter row from before sequences, or a declaration).
START_AFTER = """
SELECT greatest(
  (SELECT coalesce(max(sequence), 0) FROM declarations WHERE region_code = %(r)s AND year = %(y)s),
  (SELECT coalesce(max(last_value), 0) FROM reference_counters
    WHERE region_code = %(r)s AND year = %(y)s))"""


def create_sequence_sql(region_code: str, year: int, start_after: int) -> str:
    name = sequence_name(region_code, year)  # checked: digits only
    return f"CREATE SEQUENCE IF NOT EXISTS {name} START WITH {int(start_after) + 1}"


def regions() -> list[str]:
    return reference().region_codes
