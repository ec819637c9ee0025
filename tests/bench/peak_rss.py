"""Run a command and print its peak resident set size: `peak_rss KB` on the last line of stdout, after the
command's own output (stdout and stderr pass through). The figure is the child's ru_maxrss from wait4, so it
covers exactly that process (and any children it waited for), whatever else runs on the machine.

/usr/bin/python3 tests/bench/peak_rss.py CMD ARGS...
"""
import os
import sys

if len(sys.argv) < 2:
    sys.exit("usage: peak_rss.py CMD ARGS...")
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
code = os.waitstatus_to_exitcode(status)
if code != 0:
    sys.exit(f"peak_rss.py: {sys.argv[1]} exited with status {code}")
print(f"peak_rss {ru.ru_maxrss}")  # kilobytes on Linux
