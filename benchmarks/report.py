"""Turn the suite's result dict into ratios, a markdown report, a JSON file and a bar chart.

Ratios are taken within one run only: each entry's median divided by plain PyTorch's median of
the same case (``x PyTorch``) and by the fastest *peer's* median of that case (``x fastest``;
birnn's own entries are never the reference). Below 1.0 is faster. With several rounds, ``x PyTorch per
round`` is the median over rounds of the entry's round median divided by PyTorch's in the same round: the two
ran back to back, so a stretch of time in which the machine runs slow (seen here: whole worker processes at
1.2-1.8x their usual time, both peers alike) moves both sides of each round's ratio, where it moves the
pooled median of one peer only.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .peers import BASELINE, PEERS, SUBJECT

__all__ = ["Entry", "entries", "to_markdown", "write_all", "write_chart", "write_json"]

MEMORY_METHOD = (
    "peak MiB = transient memory of one training step above the steady state: RSS high-water mark "
    "(reset through /proc/self/clear_refs) minus RSS before the step, measured after the timed steps "
    "with glibc set to mmap allocations >= 64 KiB and trim at once (see benchmarks/measure.py)"
)


@dataclass(frozen=True)
class Entry:
    """One measured (or failed, or skipped) variant of one peer on one case, with its ratios."""

    case: str
    peer: str
    variant: str
    median_ms: float | None
    min_ms: float | None
    peak_mib: float | None
    note: str
    foreign_cores: float | None = None
    round_medians_ms: tuple[float, ...] = ()
    vs_baseline: float | None = None
    vs_baseline_per_round: float | None = None
    vs_fastest: float | None = None
    fastest_peer: str | None = None

    @property
    def key(self) -> str:
        return self.peer if not self.variant else f"{self.peer}:{self.variant}"

    @property
    def label(self) -> str:
        name = PEERS[self.peer].label if self.peer in PEERS else self.peer
        return name if not self.variant else f"{name} ({self.variant})"


def _note(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"error: {row['error']}"
    if "skipped" in row:
        return f"skipped: {row['skipped']}"
    if row.get("finite") is False:
        return "diverged: the step's result is not finite (timed on NaN/inf arithmetic)"
    return ""


def entries(results: dict[str, Any]) -> list[Entry]:
    """Every row of ``results`` as an :class:`Entry` with its ratios filled in."""
    raw = [
        Entry(
            case=row["case"],
            peer=row["peer"],
            variant=row.get("variant", ""),
            median_ms=row.get("median_ms"),
            min_ms=row.get("min_ms"),
            peak_mib=row.get("peak_mib"),
            note=_note(row),
            foreign_cores=row.get("foreign_cores"),
            round_medians_ms=tuple(row.get("round_medians_ms", ())),
        )
        for row in results["rows"]
    ]
    done: list[Entry] = []
    for case in dict.fromkeys(entry.case for entry in raw):
        mine = [entry for entry in raw if entry.case == case]
        timed = [entry for entry in mine if entry.median_ms is not None]
        reference = next((e for e in timed if e.peer == BASELINE and not e.variant), None)
        baseline = reference.median_ms if reference else None
        peers = [e for e in timed if e.peer != SUBJECT]
        fastest = min(peers, key=lambda e: e.median_ms or math.inf, default=None)
        for entry in mine:
            if entry.median_ms is None:
                done.append(entry)
                continue
            done.append(
                dataclasses.replace(
                    entry,
                    vs_baseline=entry.median_ms / baseline if baseline else None,
                    vs_baseline_per_round=_per_round(entry, reference),
                    vs_fastest=entry.median_ms / fastest.median_ms if fastest and fastest.median_ms else None,
                    fastest_peer=fastest.label if fastest else None,
                )
            )
    return done


def _per_round(entry: Entry, reference: Entry | None) -> float | None:
    """Median over rounds of ``entry``'s round median / ``reference``'s in the same round (``None`` unless both
    have the same two or more rounds).

    Example:
        >>> a = Entry("c", "birnn", "", 2.0, 1.0, None, "", round_medians_ms=(1.0, 2.0, 1.1))
        >>> b = Entry("c", "torch_nn", "", 1.0, 1.0, None, "", round_medians_ms=(1.0, 2.0, 2.0))
        >>> _per_round(a, b)
        1.0
    """
    rounds = entry.round_medians_ms
    if reference is None or len(rounds) < 2 or len(rounds) != len(reference.round_medians_ms):
        return None
    return statistics.median(a / b for a, b in zip(rounds, reference.round_medians_ms))


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _load(values: list[float] | None) -> str:
    return "–" if not values else " / ".join(f"{v:.2f}" for v in values)


def _run_lines(run: dict[str, Any]) -> list[str]:
    config, source = run["config"], run.get("source", {})
    return [
        f"- run {run['started']} → {run['finished']} (UTC), cases: {', '.join(run.get('cases', []))}",
        (
            f"  - source: commit {source.get('commit') or '?'}"
            + (" with uncommitted changes in birnn/" if source.get("birnn_modified") else "")
        ),
        (
            f"  - load average (1/5/15 min): {_load(run['load_average_start'])} at start, "
            f"{_load(run['load_average_end'])} at end"
        ),
        (
            f"  - median of {config['repeats']} steps after {config['warmup']} warm-up steps, "
            f"{config['threads']} threads, device {config['device']}, each peer x case in a fresh process"
            + (
                f"; {config['rounds']} rounds per case in alternating peer order, their steps pooled"
                if config.get("rounds", 1) > 1
                else ""
            )
            + (" — TINY sizes (smoke test, not a benchmark)" if config["tiny"] else "")
        ),
    ]


def _header(results: dict[str, Any]) -> list[str]:
    machine = results["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in sorted(results["versions"].items()))
    lines = [
        "# birnn benchmark",
        "",
        (
            f"- machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory_gib']} GiB, {machine['platform']}, "
            f"Python {machine['python']}"
        ),
        f"- libraries: {versions}",
    ]
    for run in results.get("runs", [results]):
        lines += _run_lines(run)
    lines += [f"- skipped {peer}: {note}" for peer, note in results.get("skipped_peers", {}).items()]
    return lines


def _ordered_keys(all_entries: list[Entry]) -> list[str]:
    """Keys of the timed entries, grouped by peer in registry order (a peer's variants follow it)."""
    order = {peer: i for i, peer in enumerate(PEERS)}
    timed = [e for e in all_entries if e.median_ms is not None]
    first = {key: i for i, key in reversed(list(enumerate(e.key for e in timed)))}
    peer_of = {e.key: e.peer for e in timed}
    return sorted(first, key=lambda key: (order.get(peer_of[key], len(order)), first[key]))


def _busy(entry: Entry | None, results: dict[str, Any]) -> bool:
    limit = results["config"].get("quiet_cores")
    return bool(entry and entry.foreign_cores is not None and limit is not None and entry.foreign_cores > limit)


def _summary_table(results: dict[str, Any], all_entries: list[Entry]) -> list[str]:
    keys = _ordered_keys(all_entries)
    labels = {e.key: e.label for e in all_entries}
    titles = {case["name"]: case["title"] for case in results["cases"]}
    head = ["case", *(labels[k] for k in keys), "birnn ÷ PyTorch", "birnn ÷ fastest peer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in dict.fromkeys(e.case for e in all_entries):
        by_key = {e.key: e for e in all_entries if e.case == case}
        fastest = min(
            (e.median_ms for e in by_key.values() if e.median_ms is not None and e.peer != SUBJECT), default=None
        )
        cells = []
        for key in keys:
            entry = by_key.get(key)
            text = _ms(entry.median_ms if entry else None)
            text = f"**{text}**" if entry and entry.median_ms == fastest and fastest is not None else text
            cells.append(text + (" †" if _busy(entry, results) else ""))
        subject = by_key.get(SUBJECT)
        ratios = [_ratio(subject.vs_baseline), _ratio(subject.vs_fastest)] if subject else ["–", "–"]
        lines.append("| " + " | ".join([f"{case}: {titles.get(case, '')}", *cells, *ratios]) + " |")
    return lines


def _detail_table(all_entries: list[Entry]) -> list[str]:
    lines = [
        (
            "| case | peer | median ms | min ms | × PyTorch | × PyTorch per round | × fastest peer | fastest peer "
            "| peak MiB | others' cores | note |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in all_entries:
        peak = "–" if e.peak_mib is None else f"{e.peak_mib:.0f}"
        others = "–" if e.foreign_cores is None else f"{e.foreign_cores:.2f}"
        lines.append(
            f"| {e.case} | {e.label} | {_ms(e.median_ms)} | {_ms(e.min_ms)} | {_ratio(e.vs_baseline)} | "
            f"{_ratio(e.vs_baseline_per_round)} | {_ratio(e.vs_fastest)} | {e.fastest_peer or '–'} | {peak} | "
            f"{others} | {e.note} |"
        )
    return lines


def to_markdown(results: dict[str, Any]) -> str:
    """The whole report: header, median table (fastest peer in bold), detail table with ratios."""
    all_entries = entries(results)
    lines = _header(results)
    lines += ["", "## Median ms per step (bold: fastest peer)", "", *_summary_table(results, all_entries)]
    busy = (
        f"† other processes used more than {results['config'].get('quiet_cores')} cores while this was measured "
        '(column "others\' cores": CPU time of other processes / wall time of the worker); treat it as suspect.'
    )
    if any(_busy(entry, results) for entry in all_entries):
        lines += ["", busy]
    lines += ["", "## Ratios and peak memory", "", *_detail_table(all_entries), "", f"{MEMORY_METHOD}."]
    return "\n".join(lines) + "\n"


def write_json(results: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(results, indent=1) + "\n")
    return path


def write_chart(results: dict[str, Any], path: Path) -> Path:
    """Grouped bars: median ms per case (log scale) and the ratio to plain PyTorch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_entries = [e for e in entries(results) if e.median_ms is not None]
    cases = list(dict.fromkeys(e.case for e in all_entries))
    keys = _ordered_keys(all_entries)
    by_key = {e.key: e for e in all_entries}
    colours = {peer: plt.get_cmap("tab10")(i) for i, peer in enumerate(PEERS)}
    width = 0.8 / max(1, len(keys))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8.0, 1.4 * len(cases) + 3) + 3, 8), sharex=True)
    for k, key in enumerate(keys):
        found = {e.case: e for e in all_entries if e.key == key}
        shown = [case for case in cases if case in found]
        xs = [cases.index(case) + (k - (len(keys) - 1) / 2) * width for case in shown]
        style = {
            "color": colours.get(by_key[key].peer, "grey"),
            "label": by_key[key].label,
            "hatch": "//" if by_key[key].variant else None,
            "edgecolor": "white",
        }
        top.bar(xs, [found[c].median_ms for c in shown], width, **style)
        bottom.bar(xs, [found[c].vs_baseline or math.nan for c in shown], width, **style)
    top.set_yscale("log")
    top.set_ylabel("median ms per step (log)")
    top.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom.axhline(1.0, color="black", linewidth=0.8)
    bottom.set_yscale("log")
    bottom.set_ylabel("÷ plain PyTorch (log; < 1 is faster)")
    bottom.set_xticks(range(len(cases)))
    bottom.set_xticklabels(cases, rotation=30, ha="right")
    machine = results["machine"]
    top.set_title(f"birnn benchmark — {machine['cpu']}, {machine['cpus']} CPUs, {results['finished']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(results: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``benchmark.md``, ``benchmark.json`` and ``benchmark.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / "benchmark.md"
    markdown.write_text(to_markdown(results))
    return {
        "markdown": markdown,
        "json": write_json(results, out_dir / "benchmark.json"),
        "chart": write_chart(results, out_dir / "benchmark.png"),
    }
