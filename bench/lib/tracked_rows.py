"""Memory a session's ReadSet costs: reads N rows of a track-mode table through staleguard in one
session and reports the proxy's resident memory before and after, with the session still open.

Used by bench/compare.sh. Prints one tab-separated line:
    ROWS  RSS_BEFORE_KIB  RSS_AFTER_KIB  TRACKED_CHECK
TRACKED_CHECK is "checked" when a write of a row read earlier, changed meanwhile by another
session, was refused as stale (so the rows really were tracked), else what happened.
"""

import argparse
import sys

import psycopg2

from idle_sessions import settled_rss_kib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pid", type=int, required=True, help="staleguard's pid")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--dbname", required=True)
    parser.add_argument("--rows", type=int, default=100000)
    args = parser.parse_args()

    def connect():
        conn = psycopg2.connect(host="127.0.0.1", port=args.port, user=args.user, dbname=args.dbname,
                                connect_timeout=30)
        conn.autocommit = True
        return conn

    reader, writer = connect(), connect()
    before = settled_rss_kib(args.pid)
    with reader.cursor() as cursor:
        cursor.execute("SELECT aid, abalance FROM pgbench_accounts WHERE aid <= %s", (args.rows,))
        if cursor.rowcount != args.rows:
            print(f"tracked_rows: read {cursor.rowcount} rows, wanted {args.rows}", file=sys.stderr)
            return 1
        del cursor
    after = settled_rss_kib(args.pid)
    # The first row read must still be remembered: change it elsewhere, then write it here.
    with writer.cursor() as cursor:
        cursor.execute("SELECT abalance FROM pgbench_accounts WHERE aid = 1")
        cursor.execute("UPDATE pgbench_accounts SET abalance = abalance WHERE aid = 1")
    verdict = "not refused"
    try:
        with reader.cursor() as cursor:
            cursor.execute("UPDATE pgbench_accounts SET abalance = abalance WHERE aid = 1")
    except psycopg2.Error as error:
        verdict = "checked" if error.pgcode == "40001" else f"error {error.pgcode}"
    reader.close()
    writer.close()
    print(f"{args.rows}\t{before}\t{after}\t{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
