#!/usr/bin/env python3
"""Read the same values as fetch_refs into a Python set, for comparison.

usage: fetch_refs.py sqlite PATH TABLE COL1 COL2
       fetch_refs.py pg CONNINFO TABLE COL1 COL2
       fetch_refs.py mysql SOCKET TABLE COL1 COL2   (user root, database app)
Prints one line: "rows distinct 0 wall_ms maxrss_kb", like fetch_refs.
The plain way a script would do it: one query per column, iterate the
cursor, add each non-empty value to a set (no normalisation).
"""
import resource
import sys
import time


def main():
    kind, target, table, *columns = sys.argv[1:]
    start = time.monotonic()
    if kind == "sqlite":
        import sqlite3
        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    elif kind == "mysql":
        import MySQLdb
        conn = MySQLdb.connect(unix_socket=target, user="root", database="app",
                               charset="utf8mb4")
    else:
        import psycopg2
        conn = psycopg2.connect(target)
    refs = set()
    rows = 0
    cur = conn.cursor()
    for column in columns:
        quote = "`" if kind == "mysql" else '"'
        cur.execute(f"SELECT {quote}{column}{quote} FROM {quote}{table}{quote}")
        for (value,) in cur:
            rows += 1
            if value:
                refs.add(value)
    conn.close()
    elapsed = (time.monotonic() - start) * 1000
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{rows} {len(refs)} 0 {elapsed:.0f} {maxrss}")


if __name__ == "__main__":
    main()
