"""TEST FIXTURE: drives `host ... + console` on a real pseudo-terminal, as a
person would: waits for the detach hint, types a command, checks its answer,
detaches with Ctrl-]. Usage: console_driver.py HOST [ARGS...]"""
import os
import pty
import select
import sys
import time

pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])

seen = b""


def expect(pattern, timeout=120):
    global seen
    deadline = time.time() + timeout
    while pattern not in seen:
        ready, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
        if not ready:
            sys.exit("timed out waiting for %r; the terminal showed %r" % (pattern, seen[-400:]))
        try:
            seen += os.read(fd, 4096)
        except OSError:
            sys.exit("host ended before %r; the terminal showed %r" % (pattern, seen[-400:]))


expect(b"press Ctrl-] to detach")
os.write(fd, b"echo console-$((40+2))\r")
expect(b"console-42")
os.write(fd, b"\x1d")
expect(b"detached from the console")
_, status = os.waitpid(pid, 0)
print("console session ok")
sys.exit(os.waitstatus_to_exitcode(status))
