"""Track mode under seeded random workloads, with three drivers that speak the protocol three ways:
psycopg2 (simple protocol, values pasted as literals), psycopg 3 (server-side binding, prepared at
once, text or binary at random) and asyncpg (named statements, every value bound in binary, types
learnt from the server). Sessions read rows one at a time or several at once, write them back by
key one at a time or several in one statement (bound or literal), in and out of transactions,
through savepoints rolled back or released, and in multi-statement query strings; the three kinds
of version (counter, xmin, timestamp) are each one table.

Two properties, each over several seeds (a failure names its seed; rerun one with
STALEGUARD_RANDOM_SEEDS=seed):
- one session at a time is never refused (a false 40001 would break a correct application), not
  even under `unread: reject` (every row it writes it has read), and what it believes it wrote is
  what the table holds;
- concurrent sessions that write back what they read plus one, retrying on 40001, lose no update:
  each row ends up equal to the number of writes that succeeded on it.
"""

import asyncio
import os
import random
import threading

import asyncpg
import psycopg
import psycopg2
import psycopg2.errors
import pytest

from rules_support import guarded, rules_text, table_rule  # noqa: F401 (guarded is a fixture)

ROWS = 8
TABLES = ("counted", "xmined", "stamped")
SCHEMA = f"""
    CREATE TABLE counted (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, version int NOT NULL DEFAULT 1);
    CREATE TABLE xmined (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
    CREATE TABLE stamped (id int PRIMARY KEY, n int NOT NULL DEFAULT 0,
                          modified timestamptz NOT NULL DEFAULT now());
    INSERT INTO counted (id) SELECT generate_series(1, {ROWS});
    INSERT INTO xmined (id) SELECT generate_series(1, {ROWS});
    INSERT INTO stamped (id) SELECT generate_series(1, {ROWS});
"""


def rules(unread="allow"):
    return rules_text(table_rule("counted", unread=unread), table_rule("xmined", version="xmin", unread=unread),
                      table_rule("stamped", version="modified", kind="timestamp", unread=unread))


def seeds(default):
    chosen = os.environ.get("STALEGUARD_RANDOM_SEEDS")
    return [int(seed) for seed in chosen.split(",")] if chosen else default


class Refused(Exception):
    """The write was refused: 40001 (stale), or a deadlock between concurrent sessions."""


class Psycopg2Session:
    name = "psycopg2"
    multi_statement = True

    def __init__(self, db, rng):
        self.conn = db.connect()

    def run(self, sql, params=()):
        with self.conn.cursor() as cur:
            try:
                cur.execute(sql.replace("$?", "%s"), params or None)
            except (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected) as error:
                raise Refused(f"{error.pgcode}: {error.pgerror}") from error
            self.rowcount = cur.rowcount
            return cur.fetchall() if cur.description else None

    def close(self):
        self.conn.close()


class Psycopg3Session:
    name = "psycopg3"
    multi_statement = False

    def __init__(self, db, rng):
        self.rng = rng
        self.conn = psycopg.connect(host=db.proxy.host, port=db.proxy.port, user=db.pg.admin_user,
                                    password=db.pg.admin_password, dbname=db.db, autocommit=True,
                                    prepare_threshold=0)

    def run(self, sql, params=()):
        try:
            cur = self.conn.execute(sql.replace("$?", "%s"), params or None, binary=self.rng.random() < 0.5)
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as error:
            raise Refused(f"{error.sqlstate}: {error}") from error
        self.rowcount = cur.rowcount
        return cur.fetchall() if cur.description else None

    def close(self):
        self.conn.close()


class AsyncpgSession:
    name = "asyncpg"
    multi_statement = False

    def __init__(self, db, rng):
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(
            host=db.proxy.host, port=db.proxy.port, user=db.pg.admin_user, password=db.pg.admin_password,
            database=db.db, timeout=10))

    def run(self, sql, params=()):
        first, *rest = sql.split("$?")
        numbered = first + "".join(f"${number}{piece}" for number, piece in enumerate(rest, start=1))
        async def fetch():
            statement = await self.conn.prepare(numbered)
            return await statement.fetch(*params), statement.get_statusmsg()

        try:
            rows, status = self.loop.run_until_complete(fetch())
        except (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError) as error:
            raise Refused(f"{error.sqlstate}: {error}") from error
        self.rowcount = int(status.split()[-1]) if status.split()[-1].isdigit() else -1
        return [tuple(row) for row in rows]

    def close(self):
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


DRIVERS = (Psycopg2Session, Psycopg3Session, AsyncpgSession)


class Worker:
    """One session and what it believes: `seen[(table, id)]` is n as it last read or wrote it.
    `written` lists the writes of the current transaction (or statement), as (table, id)."""

    def __init__(self, db, rng):
        self.db, self.rng = db, rng
        self.session = rng.choice(DRIVERS)(db, rng)
        self.seen = {}
        self.reads = []  # every row read, in order

    def roll_back_to(self, seen_before, reads_before):
        """What the session knows after a rollback: its writes since are undone, so rows it
        only wrote are as it knew them before; rows it read since are forgotten, as an
        application would not trust values read in a transaction that was rolled back."""
        read_since = set(self.reads[reads_before:])
        self.seen = {row: n for row, n in seen_before.items() if row not in read_since}

    def reconnect(self):
        self.session.close()
        self.session = self.rng.choice(DRIVERS)(self.db, self.rng)
        self.seen = {}
        self.reads = []

    def read(self):
        table = self.rng.choice(TABLES)
        ids = self.rng.sample(range(1, ROWS + 1), self.rng.randint(1, 4))
        if len(ids) == 1:
            rows = self.session.run(f"SELECT id, n FROM {table} WHERE id = $?", (ids[0],))
        else:
            rows = [(row[0], row[1]) for row in
                    self.session.run(f"SELECT * FROM {table} WHERE id = ANY($?) ORDER BY id", (ids,))]
        for key, n in rows:
            self.seen[(table, key)] = n
            self.reads.append((table, key))

    def write(self, written):
        """Writes back, by key, one or several rows this session has seen, each as seen plus one."""
        table = self.rng.choice(TABLES)
        candidates = sorted(key for key in self.seen if key[0] == table)
        if not candidates:
            return self.read()
        chosen = self.rng.sample(candidates, min(len(candidates), self.rng.choice((1, 1, 2, 3))))
        if len(chosen) == 1:
            (_, key), = chosen
            n = self.seen[(table, key)] + 1
            if self.rng.random() < 0.5:
                self.session.run(f"UPDATE {table} SET n = $? WHERE id = $?", (n, key))
            else:
                self.session.run(f"UPDATE {table} SET n = {n} WHERE id = {key}")
        else:
            cases = " ".join(f"WHEN {key} THEN {self.seen[(table, key)] + 1}" for _, key in chosen)
            self.session.run(f"UPDATE {table} SET n = CASE id {cases} END WHERE id = ANY($?)",
                             ([key for _, key in chosen],))
        # Every row named was read, so it is either written or the statement refused.
        assert self.session.rowcount == len(chosen), \
            f"{self.session.name}: {len(chosen)} rows {chosen} named, {self.session.rowcount} written, no error"
        for row in chosen:
            self.seen[row] += 1
            written.append(row)

    def step(self, written):
        if self.rng.random() < 0.45:
            self.read()
        else:
            self.write(written)

    def transaction(self, written):
        """BEGIN, some steps, maybe a savepoint rolled back or released, then COMMIT or ROLLBACK.
        Returns whether it committed; `seen` and `written` are put back as they were otherwise."""
        seen_before, reads_before, written_before = dict(self.seen), len(self.reads), len(written)
        self.session.run("BEGIN")
        try:
            for _ in range(self.rng.randint(0, 3)):
                self.step(written)
            if self.rng.random() < 0.5:
                self.session.run("SAVEPOINT staged")
                seen_at_savepoint, reads_at_savepoint, written_at_savepoint = \
                    dict(self.seen), len(self.reads), len(written)
                for _ in range(self.rng.randint(1, 3)):
                    self.step(written)
                if self.rng.random() < 0.6:
                    self.session.run("ROLLBACK TO SAVEPOINT staged")
                    self.roll_back_to(seen_at_savepoint, reads_at_savepoint)
                    del written[written_at_savepoint:]
                else:
                    self.session.run("RELEASE SAVEPOINT staged")
            for _ in range(self.rng.randint(0, 2)):
                self.step(written)
            if self.rng.random() < 0.7:
                self.session.run("COMMIT")
                return True
        except Refused:
            self.session.run("ROLLBACK")
            self.roll_back_to(seen_before, reads_before)
            del written[written_before:]
            raise
        self.session.run("ROLLBACK")
        self.roll_back_to(seen_before, reads_before)
        del written[written_before:]
        return False

    def read_and_touch_in_one_string(self):
        """A multi-statement query string: a read, then a write that changes nothing but the
        version, of a row read before. (Its client wrote the write before the read in front of
        it had answered, so that read is not what the write is based on: staleguard checks it
        against what the session had read when the string came, and a row read only by the string
        itself counts as unread.)"""
        candidates = sorted(self.seen)
        if not candidates:
            return self.read()
        table, key = self.rng.choice(candidates)
        self.session.run(f"SELECT id, n FROM {table} WHERE id = {key}; UPDATE {table} SET n = n WHERE id = {key}")
        (n,), = self.session.run(f"SELECT n FROM {table} WHERE id = {key}")
        self.seen[(table, key)] = n
        self.reads.append((table, key))

    def act(self, written):
        """One random action; `written` gets the rows it wrote for good."""
        roll = self.rng.random()
        if roll < 0.04:
            self.reconnect()
        elif roll < 0.2:
            self.transaction(written)
        elif roll < 0.26 and self.session.multi_statement:
            self.read_and_touch_in_one_string()
        else:
            self.step(written)

    def close(self):
        self.session.close()


def table_contents(db):
    return {(table, key): n for table in TABLES for key, n in db.rows(f"SELECT id, n FROM {table}")}


# With `unread: reject`, a row the session read but staleguard did not take as read would be refused.
@pytest.mark.parametrize("unread", ["allow", "reject"])
@pytest.mark.parametrize("seed", seeds(list(range(6))))
def test_one_session_at_a_time_is_never_refused(guarded, seed, unread):
    db = guarded(rules(unread), SCHEMA)
    rng = random.Random(seed)
    worker = Worker(db, rng)
    try:
        for step in range(150):
            try:
                worker.act([])
            except Refused as error:
                pytest.fail(f"seed {seed}, step {step}, {worker.session.name}: refused alone: {error}")
        believed = dict(worker.seen)
    finally:
        worker.close()
    contents = table_contents(db)
    assert {key: contents[key] for key in believed} == believed, f"seed {seed}"


@pytest.mark.parametrize("seed", seeds([100, 101, 102]))
def test_concurrent_sessions_lose_no_update(guarded, seed):
    db = guarded(rules(), SCHEMA)
    succeeded, refused, failures = {}, [0], []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def run(number):
        rng = random.Random(seed * 1000 + number)
        worker = None
        try:
            worker = Worker(db, rng)
            barrier.wait(30)
            for _ in range(100):
                written = []
                try:
                    worker.act(written)
                except Refused:
                    # Refused means nothing of it was written: read again before writing again.
                    worker.seen.clear()
                    written = []
                    with lock:
                        refused[0] += 1
                with lock:
                    for row in written:
                        succeeded[row] = succeeded.get(row, 0) + 1
        except BaseException as error:  # reported by the main thread
            failures.append(f"worker {number}: {error!r}")
        finally:
            if worker:
                worker.close()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not any(thread.is_alive() for thread in threads), f"seed {seed}: workers still running after 300 s"
    assert not failures, f"seed {seed}: {failures}"
    contents = table_contents(db)
    lost = {key: (n, succeeded.get(key, 0)) for key, n in contents.items() if n != succeeded.get(key, 0)}
    print(f"\nseed {seed}: {sum(succeeded.values())} writes succeeded, {refused[0]} refused")
    assert not lost, f"seed {seed}: (table, id): (n, writes that succeeded) differ: {lost}"
