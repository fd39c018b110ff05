"""Turns the raw measurements bench/compare.sh collected into the tables it prints.

Inputs (tab-separated, written by compare.sh and idle_sessions.py):
  results.tsv  SECTION WORKLOAD TARGET ROUND TPS RETRIED FAILED CPU_US_PER_TRANSACTION
               (TPS is "fail" for a failed run; CPU is the proxy's, empty for direct)
  skips.tsv    SECTION WORKLOAD MESSAGE
  memory.tsv   LABEL COUNT RSS_BEFORE RSS_AFTER_CONNECT RSS_AFTER_QUERY   (KiB)
Medians are over rounds; a target with any failed round shows how many failed beside its median.
"""

import statistics
import sys
from collections import OrderedDict
from pathlib import Path

SELECT_ONLY_DIRECT_GOAL = 0.90  # staleguard TPS / direct TPS
SELECT_ONLY_PGBOUNCER_GOAL = 1.00  # staleguard TPS / pgbouncer TPS
IDLE_SESSION_GOAL_KIB = 64
TRACK_DIRECT_GOAL = 0.80  # staleguard with track rules TPS / direct TPS (select_update.sql)


def read_tsv(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split("\t") for line in path.read_text().splitlines() if line.strip()]


class Runs:
    def __init__(self) -> None:
        self.tps: list[float] = []
        self.failed_runs = 0
        self.retried = 0
        self.failed_transactions = 0
        self.cpu_us: list[float] = []
        self.server_cpu_us: list[float] = []

    def server_cpu_cell(self) -> str:
        return f"{statistics.median(self.server_cpu_us):.1f}" if self.server_cpu_us else "n/a"

    def median(self) -> float | None:
        return statistics.median(self.tps) if self.tps else None

    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu_us) if self.cpu_us else None

    def cpu_cell(self) -> str:
        median = self.cpu_median()
        return "n/a" if median is None else f"{median:.1f}"

    def cell(self) -> str:
        median = self.median()
        text = "failed" if median is None else f"{median:,.0f}"
        if median is not None and self.failed_runs:
            text += f" ({self.failed_runs} run(s) failed)"
        return text


def collect(rows: list[list[str]]) -> "OrderedDict[tuple[str, str], dict[str, Runs]]":
    table: OrderedDict[tuple[str, str], dict[str, Runs]] = OrderedDict()
    for section, workload, target, _round, tps, retried, failed, cpu_us, *server in rows:
        runs = table.setdefault((section, workload), {}).setdefault(target, Runs())
        if tps == "fail":
            runs.failed_runs += 1
        else:
            runs.tps.append(float(tps))
        runs.retried += int(retried or 0)
        runs.failed_transactions += int(failed or 0)
        if cpu_us:
            runs.cpu_us.append(float(cpu_us))
        if server and server[0]:
            runs.server_cpu_us.append(float(server[0]))
    return table


def ratio(numerator: Runs | None, denominator: Runs | None, goal: float | None = None) -> str:
    top = numerator.median() if numerator else None
    bottom = denominator.median() if denominator else None
    if top is None or not bottom:
        return "n/a"
    value = top / bottom
    if goal is None:
        return f"{value:.2f}"
    verdict = "met" if value >= goal else "MISSED"
    return f"{value:.2f} (goal >= {goal:.2f}: {verdict})"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))


def print_proxies(table, rounds_note: str) -> None:
    print(f"## Throughput: direct vs pgbouncer (session pooling) vs staleguard without rules ({rounds_note})")
    rows = []
    for (section, workload), targets in table.items():
        if section != "proxies":
            continue
        direct, bouncer, guard = (targets.get(t) for t in ("direct", "pgbouncer", "staleguard"))
        select_only = workload.startswith("select-only")
        rows.append([
            workload,
            direct.cell() if direct else "n/a",
            bouncer.cell() if bouncer else "n/a",
            guard.cell() if guard else "n/a",
            ratio(bouncer, direct),
            ratio(guard, direct, SELECT_ONLY_DIRECT_GOAL if select_only else None),
            ratio(guard, bouncer, SELECT_ONLY_PGBOUNCER_GOAL if select_only else None),
        ])
    print_table(["workload", "direct TPS", "pgbouncer TPS", "staleguard TPS", "pgbouncer/direct",
                 "staleguard/direct", "staleguard/pgbouncer"], rows)


def cpu_ratio(numerator: Runs | None, denominator: Runs | None) -> str:
    top = numerator.cpu_median() if numerator else None
    bottom = denominator.cpu_median() if denominator else None
    return "n/a" if top is None or not bottom else f"{top / bottom:.2f}"


def print_cpu(table, section: str, baseline: str) -> None:
    rows = []
    for (row_section, workload), targets in table.items():
        if row_section != section:
            continue
        base = targets.get(baseline)
        for name, runs in targets.items():
            if name in ("direct", baseline):
                continue
            rows.append([workload, base.cpu_cell() if base else "n/a", name, runs.cpu_cell(),
                         cpu_ratio(runs, base)])
    if rows:
        print_table(["workload", f"{baseline} CPU us/txn", "vs", "CPU us/txn", f"ratio to {baseline}"], rows)


def print_server_cpu(table, section: str) -> None:
    """PostgreSQL's own CPU per transaction through each target: what a proxy's rewriting costs
    the server (and what relaying costs it in wake-ups), beside the proxy's own CPU."""
    rows, targets_seen = [], []
    for (row_section, _), targets in table.items():
        if row_section == section:
            targets_seen += [name for name in targets if name not in targets_seen]
    for (row_section, workload), targets in table.items():
        if row_section == section:
            rows.append([workload] + [targets[name].server_cpu_cell() if name in targets else "n/a"
                                      for name in targets_seen])
    if rows and any(cell != "n/a" for row in rows for cell in row[1:]):
        print_table(["workload"] + [f"{name} us/txn" for name in targets_seen], rows)


def print_rules(table, skips: list[list[str]], rounds_note: str) -> None:
    print(f"## Throughput with rules: direct vs pgbouncer vs staleguard without rules vs staleguard with rules "
          f"({rounds_note})")
    rows = []
    notes = []
    for (section, workload), targets in table.items():
        if section != "rules":
            continue
        direct, bouncer, plain = targets.get("direct"), targets.get("pgbouncer"), targets.get("staleguard")
        ruled_name = next((t for t in targets if t.startswith("staleguard+")), None)
        ruled = targets.get(ruled_name) if ruled_name else None
        rows.append([
            workload,
            direct.cell() if direct else "n/a",
            bouncer.cell() if bouncer else "n/a",
            plain.cell() if plain else "n/a",
            ruled.cell() if ruled else "n/a",
            ratio(bouncer, direct),
            ratio(plain, direct),
            ratio(ruled, direct, TRACK_DIRECT_GOAL if "track" in workload else None),
            ratio(ruled, plain),
        ])
        for name, runs in targets.items():
            if runs.retried or runs.failed_transactions:
                notes.append(f"{workload} via {name}: {runs.retried} transaction(s) retried, "
                             f"{runs.failed_transactions} failed (pgbench --max-tries, SQLSTATE 40001/40P01)")
    for _section, workload, message in (s for s in skips if s[0] == "rules"):
        rows.append([workload, message, "", "", "", "", "", "", ""])
    print_table(["workload", "direct TPS", "pgbouncer TPS", "staleguard (no rules) TPS", "staleguard (rules) TPS",
                 "pgbouncer/direct", "no-rules/direct", "rules/direct", "rules/no-rules"], rows)
    for note in notes:
        print(f"  note: {note}")


def goal_verdict(label: str, kib_per_session: float) -> str:
    if label != "staleguard":
        return ""  # the goal is staleguard's; pgbouncer is the yardstick
    return "met" if kib_per_session <= IDLE_SESSION_GOAL_KIB else "MISSED"


def print_memory(rows: list[list[str]]) -> None:
    print("## Memory per idle session (VmRSS of the proxy process; KiB)")
    out = []
    for label, count, before, after_connect, after_query in rows:
        n = int(count)
        per_connect = (int(after_connect) - int(before)) / n
        per_query = (int(after_query) - int(before)) / n
        out.append([
            label, count, before, after_connect, after_query,
            f"{per_connect:.1f}", f"{per_query:.1f}",
            goal_verdict(label, max(per_connect, per_query)),
        ])
    print_table(["proxy", "sessions", "RSS before", "RSS after connect", "RSS after SELECT 1 each",
                 "KiB/session (connected)", "KiB/session (after query)",
                 f"goal <= {IDLE_SESSION_GOAL_KIB} KiB"], out)


def print_tracked(rows: list[list[str]]) -> None:
    print("## Memory per session holding tracked rows (track mode; VmRSS of staleguard; one session)")
    out = []
    for count, before, after, verdict in rows:
        grown = int(after) - int(before)
        out.append([count, before, after, str(grown), f"{grown * 1024 / int(count):.1f}", verdict])
    print_table(["rows read", "RSS before", "RSS after", "KiB grown", "bytes/row", "stale write caught"], out)


def main() -> int:
    work = Path(sys.argv[1])
    rounds_note = sys.argv[2]
    table = collect(read_tsv(work / "results.tsv"))
    print_proxies(table, rounds_note)
    print()
    print("## Proxy CPU per transaction (user+system time of the proxy process over a run / transactions;")
    print("## median; far less sensitive to other load on the machine than TPS)")
    print_cpu(table, "proxies", "pgbouncer")
    print()
    print("## PostgreSQL CPU per transaction (user+system time of its processes over a run / transactions;")
    print("## median)")
    print_server_cpu(table, "proxies")
    print()
    memory = read_tsv(work / "memory.tsv")
    if memory:
        print_memory(memory)
        print()
    tracked = read_tsv(work / "tracked.tsv")
    if tracked:
        print_tracked(tracked)
        print()
    print_rules(table, read_tsv(work / "skips.tsv"), rounds_note)
    if any(section == "rules" for section, _ in table):
        print()
        print("## staleguard CPU per transaction with rules vs without (us; median)")
        print_cpu(table, "rules", "staleguard")
        print()
        print("## PostgreSQL CPU per transaction with rules (us; median): the rewritten statements' own cost")
        print_server_cpu(table, "rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
