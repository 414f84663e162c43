"""A disk that is slow to give: a read-only FUSE filesystem whose reads, or
lookups, wait DELAY seconds (tests/static_disk.rs).

    python3 tests/slow_fs.py MOUNTPOINT DELAY LOG

It holds small.bin (4,000 bytes), big.bin and page.txt (300,000 each; text,
for compression), whose every read waits, and slow-name.bin, slow-name.txt
and slow-name.txt.gz (4,000 bytes each), whose lookup (getattr) waits but
whose reads don't; a directory slow-root whose lookup waits, holding
inside.txt (4,000 bytes) whose lookup and reads don't; a directory slow-list
whose listing (readdir) waits, holding listed.txt; and, for any name
starting with "missing-", a lookup that waits and finds nothing. Byte i of each is (i * 7) & 0xFF. A wait appends "begin
OFFSET" (a read) or "begin lookup NAME" to LOG before it and "end ..."
after, written and closed before the bytes are returned, so whoever
receives them finds the "end" line already there. "ready" is appended once
the kernel has mounted it. Runs until unmounted.
Needs fusepy (pip) and libfuse2 (apt), and root or fusermount.
"""

import errno
import stat
import sys
import time

from fuse import FUSE, FuseOSError, Operations

SLOW_READS = {"/small.bin": 4_000, "/big.bin": 300_000, "/page.txt": 300_000}
SLOW_NAMES = {"/slow-name.bin": 4_000, "/slow-name.txt": 4_000, "/slow-name.txt.gz": 4_000}
FILES = {**SLOW_READS, **SLOW_NAMES, "/slow-root/inside.txt": 4_000, "/slow-list/listed.txt": 4_000}
SLOW_DIRS = {"/slow-root"}
DIRS = {"/slow-root": ["inside.txt"], "/slow-list": ["listed.txt"]}


def content(offset, end):
    return bytes((i * 7) & 0xFF for i in range(offset, end))


class SlowFs(Operations):
    def __init__(self, delay, log):
        self.delay = delay
        self.log = log

    def note(self, line):
        with open(self.log, "a") as f:
            f.write(line + "\n")

    def init(self, path):
        self.note("ready")

    def getattr(self, path, fh=None):
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        if path in SLOW_NAMES or path in SLOW_DIRS or path.startswith("/missing-"):
            self.note(f"begin lookup {path}")
            time.sleep(self.delay)
            self.note(f"end lookup {path}")
        if path in DIRS:
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        if path in FILES:
            return {"st_mode": stat.S_IFREG | 0o444, "st_nlink": 1, "st_size": FILES[path]}
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        if path == "/slow-list":
            self.note(f"begin readdir {path}")
            time.sleep(self.delay)
            self.note(f"end readdir {path}")
        if path in DIRS:
            return [".", "..", *DIRS[path]]
        return [".", "..", *(name[1:] for name in DIRS), *(name[1:] for name in FILES if name.count("/") == 1)]

    def read(self, path, size, offset, fh):
        if path not in FILES:
            raise FuseOSError(errno.ENOENT)
        if path in SLOW_READS:
            self.note(f"begin {offset}")
            time.sleep(self.delay)
            self.note(f"end {offset}")
        return content(offset, min(offset + size, FILES[path]))


if __name__ == "__main__":
    mountpoint, delay, log = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    FUSE(SlowFs(delay, log), mountpoint, foreground=True, ro=True)
