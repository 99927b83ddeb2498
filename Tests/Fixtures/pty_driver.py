"""TEST FIXTURE: drives a program on a real pseudo-terminal, as a person at
a terminal would: it waits for text, types keys, and at the end waits for
the program to exit. Usage:

    pty_driver.py SCRIPT PROGRAM [ARGS...]

SCRIPT is JSON: a list of ["expect", TEXT], ["send", TEXT] and ["kill",
NAME] (SIGKILL the program's descendants called NAME) pairs. Prints
`exit STATUS` and what the terminal showed; exits 1 when an expected text
does not appear in time."""
import json
import os
import pty
import select
import sys
import time

script = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])

seen = b""


def read_some(deadline):
    global seen
    ready, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
    if not ready:
        return False
    try:
        seen += os.read(fd, 4096)
    except OSError:  # the program closed the terminal: it ended
        return None
    return True


def show():
    return seen.decode("utf-8", "replace")


def descendants(root):
    parents = {}
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % entry) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open("/proc/%s/comm" % entry) as comm:
                parents[int(entry)] = (int(fields[1]), comm.read().strip())
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], {root}
    while frontier:
        children = {p for p, (parent, _) in parents.items() if parent in frontier}
        found += [(p, parents[p][1]) for p in children]
        frontier = children
    return found


for action, text in script:
    if action == "send":
        os.write(fd, text.encode())
        continue
    if action == "kill":
        for child, name in descendants(pid):
            if name == text:
                os.kill(child, 9)
        continue
    deadline = time.time() + 180
    while text.encode() not in seen:
        got = read_some(deadline)
        if not got:
            why = "timed out" if got is False else "the program ended"
            print("%s waiting for %r; the terminal showed:\n%s" % (why, text, show()))
            sys.exit(1)

deadline = time.time() + 120
while read_some(deadline):
    pass
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.time() > deadline:
        os.kill(pid, 9)
        print("the program did not end within 120 s; the terminal showed:\n%s" % show())
        sys.exit(1)
    time.sleep(0.1)
print("exit %d" % os.waitstatus_to_exitcode(status))
print(show())
