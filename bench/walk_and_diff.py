"""walk_and_diff: the cleanup the Django documentation suggests, as a
baseline for bench/scan.sh: walk MEDIA_ROOT, read the file columns, take
the set difference.  Prints "wall_ms peak_rss_mb" on one line.

usage: walk_and_diff.py MEDIA_ROOT sqlite DB_PATH
       walk_and_diff.py MEDIA_ROOT pg CONNINFO
"""
import os
import resource
import sys
import time


def referenced(kind, where):
    query = "SELECT image, thumb FROM gallery_photo"
    if kind == "sqlite":
        import sqlite3
        rows = sqlite3.connect(where).execute(query)
    else:
        import psycopg2
        cursor = psycopg2.connect(where).cursor()
        cursor.execute(query)
        rows = cursor
    refs = set()
    for image, thumb in rows:
        if image:
            refs.add(image)
        if thumb:
            refs.add(thumb)
    return refs


def main():
    root, kind, where = sys.argv[1:4]
    start = time.monotonic()
    on_disk = set()
    for directory, subdirs, names in os.walk(root):
        rel = os.path.relpath(directory, root)
        if rel == ".":
            subdirs[:] = [d for d in subdirs if d != ".mediafs"]
            rel = ""
        for name in names:
            on_disk.add(os.path.join(rel, name) if rel else name)
    orphans = on_disk - referenced(kind, where)
    elapsed = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not orphans:
        sys.exit("walk_and_diff: found no orphans; the data is not what bench/scan.sh made")
    print(f"{elapsed * 1000:.0f} {peak:.0f}")


if __name__ == "__main__":
    main()
