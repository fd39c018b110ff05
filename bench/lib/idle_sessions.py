"""Holds N idle connections through a proxy and reports the proxy's resident memory before and after.

Used by bench/compare.sh. Prints one tab-separated line:
    LABEL  COUNT  RSS_BEFORE_KIB  RSS_AFTER_CONNECT_KIB  RSS_AFTER_QUERY_KIB
"after connect": every connection finished its startup and sits idle without ever having queried;
"after query": each then ran one `SELECT 1` and sits idle again (buffers sized on first use count).
"""

import argparse
import resource
import sys
import time

import psycopg2


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])  # the kernel reports kB (KiB)
    raise RuntimeError(f"no VmRSS for pid {pid}")


def settled_rss_kib(pid: int) -> int:
    # Worker threads may still be finishing the last handshakes; wait until RSS stops moving.
    previous = vm_rss_kib(pid)
    for _ in range(20):
        time.sleep(0.5)
        current = vm_rss_kib(pid)
        if current == previous:
            return current
        previous = current
    return previous


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--label", required=True)
    parser.add_argument("--pid", type=int, required=True, help="process whose VmRSS is measured")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--dbname", required=True)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.count + 100:
        print(f"idle_sessions: open-file limit {hard} is too low for {args.count}", file=sys.stderr)
        return 1

    before = settled_rss_kib(args.pid)
    connections = []
    try:
        for _ in range(args.count):
            conn = psycopg2.connect(host="127.0.0.1", port=args.port, user=args.user,
                                    dbname=args.dbname, connect_timeout=30)
            conn.autocommit = True
            connections.append(conn)
    except psycopg2.Error as error:
        print(f"idle_sessions: connection {len(connections) + 1} of {args.count} failed: {error}",
              file=sys.stderr)
        return 1
    after_connect = settled_rss_kib(args.pid)
    for conn in connections:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchall()
    after_query = settled_rss_kib(args.pid)
    for conn in connections:
        conn.close()
    print(f"{args.label}\t{args.count}\t{before}\t{after_connect}\t{after_query}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
