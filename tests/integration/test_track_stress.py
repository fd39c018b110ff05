"""Lost updates under load: concurrent read-modify-write cycles on one counter row, retried on
40001. Through staleguard (track mode) no increment is lost; straight to PostgreSQL some usually
are, which is what staleguard is for. And a job queue's compare-and-set claims under load: each
answer means what PostgreSQL's would, and each job is claimed once."""

import threading
import time

import psycopg2
import psycopg2.errors

from rules_support import guarded, rules_text, table_rule  # noqa: F401 (guarded is a fixture)

WORKERS = 8
CYCLES = 100
# A worker that loses this many races in a row on one cycle is stuck, not unlucky.
MAX_ATTEMPTS = 2000

COUNTERS = """
    CREATE TABLE counters (id int PRIMARY KEY, balance int NOT NULL, version int NOT NULL DEFAULT 1);
    INSERT INTO counters (id, balance) VALUES (1, 0), (2, 0);
"""


def hammer(connect):
    """Runs WORKERS threads, each doing CYCLES successful read-modify-write cycles on row 1 with
    its own connection; returns (successful writes, conflicts, final balance, seconds)."""
    barrier = threading.Barrier(WORKERS)
    successes, conflicts, failures = [], [], []

    def worker():
        conn = connect()
        done = lost_races = 0
        try:
            with conn.cursor() as cur:
                barrier.wait(30)
                for _ in range(CYCLES):
                    for _ in range(MAX_ATTEMPTS):
                        cur.execute("SELECT balance FROM counters WHERE id = 1")
                        (balance,) = cur.fetchone()
                        try:
                            cur.execute("UPDATE counters SET balance = %s WHERE id = 1", (balance + 1,))
                        except psycopg2.errors.SerializationFailure:
                            lost_races += 1
                            continue
                        assert cur.rowcount == 1
                        done += 1
                        break
                    else:
                        raise AssertionError(f"no write succeeded in {MAX_ATTEMPTS} attempts")
        except BaseException as error:  # reported by the main thread
            failures.append(repr(error))
        finally:
            successes.append(done)
            conflicts.append(lost_races)
            conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, name=f"worker-{i}") for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not any(thread.is_alive() for thread in threads), "workers still running after 300 s"
    assert not failures, failures
    return sum(successes), sum(conflicts), time.monotonic() - started


def test_concurrent_read_modify_write(guarded):
    db = guarded(rules_text(table_rule("counters")), COUNTERS)

    def through_staleguard():
        return db.connect()

    writes, conflicts, seconds = hammer(through_staleguard)
    (balance, version), = db.rows("SELECT balance, version FROM counters WHERE id = 1")

    db.execute_direct("UPDATE counters SET balance = 0 WHERE id = 1")
    direct_writes, _, direct_seconds = hammer(db.direct)
    (direct_balance,), = db.rows("SELECT balance FROM counters WHERE id = 1")

    report = (f"{WORKERS} workers x {CYCLES} cycles on one row\n"
              f"  through staleguard: {writes} successful writes, {conflicts} refused as stale (40001), "
              f"final balance {balance}, version {version} ({seconds:.1f} s)\n"
              f"  straight to PostgreSQL: {direct_writes} successful writes, final balance {direct_balance}, "
              f"{direct_writes - direct_balance} increments lost ({direct_seconds:.1f} s)")
    print("\n" + report)
    assert writes == WORKERS * CYCLES, report
    assert balance == writes, report
    assert version == 1 + writes, report  # each successful write bumped once, refused ones not at all
    assert direct_balance <= direct_writes, report
    assert db.rows("SELECT balance, version FROM counters WHERE id = 2") == [(0, 1)]


JOBS = 60
JOB_QUEUE = f"""
    CREATE TABLE jobs (id int PRIMARY KEY, state text NOT NULL DEFAULT 'queued', worker int,
                       version int NOT NULL DEFAULT 1);
    INSERT INTO jobs (id) SELECT g FROM generate_series(1, {JOBS}) g;
"""


def test_concurrent_compare_and_set_claims(guarded):
    """A job queue through track mode: workers read a few jobs (queued ones and some already
    taken) and claim one with `UPDATE ... WHERE id = $1 AND state = 'queued'`. Every answer is
    what PostgreSQL's own would mean — UPDATE 1 (claimed), UPDATE 0 (the read was current but the
    job is not queued), or 40001 (the job changed since it was read) — every job is claimed once,
    by the worker whose UPDATE 1 said so, and nobody is stuck."""
    db = guarded(rules_text(table_rule("jobs")), JOB_QUEUE)
    barrier = threading.Barrier(WORKERS)
    claims, answers, failures = {}, {"UPDATE 1": 0, "UPDATE 0": 0, "40001": 0}, []
    lock = threading.Lock()

    def worker(number):
        conn = db.connect()
        try:
            with conn.cursor() as cur:
                barrier.wait(30)
                for attempt in range(MAX_ATTEMPTS):
                    cur.execute("SELECT id, state FROM jobs WHERE id >= (SELECT coalesce(min(id), %s) FROM jobs "
                                "WHERE state = 'queued') - 2 ORDER BY id LIMIT 4", (JOBS + 1,))
                    rows = cur.fetchall()
                    if all(state != "queued" for _, state in rows):
                        return
                    job = rows[(number + attempt) % len(rows)][0]
                    try:
                        cur.execute("UPDATE jobs SET state = 'taken', worker = %s WHERE id = %s AND state = 'queued'",
                                    (number, job))
                        answer = cur.statusmessage
                    except psycopg2.errors.SerializationFailure:
                        answer = "40001"
                    with lock:
                        answers[answer] += 1
                        if answer == "UPDATE 1":
                            assert job not in claims, f"job {job} claimed by {claims[job]} and by {number}"
                            claims[job] = number
                raise AssertionError(f"worker {number} still busy after {MAX_ATTEMPTS} attempts")
        except BaseException as error:  # reported by the main thread
            failures.append(repr(error))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), name=f"worker-{i}") for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not any(thread.is_alive() for thread in threads), "workers still running after 300 s"
    print(f"\n{WORKERS} workers claiming {JOBS} jobs through staleguard: {answers}")
    assert not failures, failures
    assert sorted(claims) == list(range(1, JOBS + 1)), answers
    assert db.rows("SELECT id, worker, version FROM jobs WHERE state = 'taken' ORDER BY id") == \
        [(job, claims[job], 2) for job in range(1, JOBS + 1)]
    assert answers["UPDATE 0"] > 0, answers  # reads of jobs already taken were checked, then passed over
