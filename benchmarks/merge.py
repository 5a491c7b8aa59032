"""Merge a new run into earlier results, case by case.

On a shared machine some cases of a long run may be measured while other processes were busy
(the report marks them with †). Re-running just those cases and merging keeps every ratio within
one run: a case's rows all come from the run that measured it last.
"""

from __future__ import annotations

from typing import Any

from .cases import ALL_CASES

__all__ = ["merge_results"]

_ORDER = {case.name: i for i, case in enumerate(ALL_CASES)}


def merge_results(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``base`` with every case that ``new`` measured replaced by ``new``'s rows for it."""
    replaced = {case["name"] for case in new["cases"]}
    cases = [case for case in base["cases"] if case["name"] not in replaced] + new["cases"]
    cases.sort(key=lambda case: _ORDER.get(case["name"], len(_ORDER)))
    rank = {case["name"]: i for i, case in enumerate(cases)}
    rows = [row for row in base["rows"] if row["case"] not in replaced] + new["rows"]
    rows.sort(key=lambda row: rank[row["case"]])
    runs = [
        {**run, "cases": [name for name in run.get("cases", []) if name not in replaced]}
        for run in base.get("runs", [base])
    ]
    runs = [run for run in runs if run["cases"]] + new["runs"]
    skipped = {**base.get("skipped_peers", {}), **new.get("skipped_peers", {})}
    return {
        **new,
        "runs": runs,
        "versions": {**base.get("versions", {}), **new.get("versions", {})},
        "cases": cases,
        "skipped_peers": skipped,
        "rows": rows,
    }
