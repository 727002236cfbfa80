#!/usr/bin/env python3
"""Stops one thread of a running process with ptrace, the others running on, and waits for the
process to be killed, as systemd's watchdog should kill it once that thread makes no progress.

    stop_thread.py TID TIMEOUT_SECONDS

PTRACE_SEIZE then PTRACE_INTERRUPT stop that thread alone (SIGSTOP would stop the whole process,
its watchdog thread too). The thread is stopped again until it is caught in its idle system call
(epoll_wait or poll, as a waiting loop is): stopped at an arbitrary instruction it could hold a
lock the watchdog's thread takes next, and the watchdog would then block instead of logging what
made no progress. Exit 0 with the killing signal printed when the process ended within
the timeout; exit 1 (the thread let go again) when it did not.
"""
import ctypes
import os
import signal
import sys
import time

PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
WALL = 0x40000000
# x86-64: epoll_wait, epoll_pwait, poll, ppoll
IDLE_CALLS = {232, 281, 7, 271}

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


def ptrace(request, tid):
    if libc.ptrace(request, tid, None, None) != 0:
        sys.exit(f"ptrace({request}, {tid}): {os.strerror(ctypes.get_errno())}")


def stop(tid):
    ptrace(PTRACE_SEIZE, tid)
    ptrace(PTRACE_INTERRUPT, tid)
    _, status = os.waitpid(tid, WALL)
    if not os.WIFSTOPPED(status):
        sys.exit(f"thread {tid} did not stop")


def idle(tid):
    with open(f"/proc/{tid}/task/{tid}/syscall") as f:
        first = f.read().split()[0]
    return first.lstrip("-").isdigit() and int(first) in IDLE_CALLS


def main():
    tid, timeout = int(sys.argv[1]), float(sys.argv[2])
    deadline = time.monotonic() + 5
    attempts = 1
    stop(tid)
    while not idle(tid):
        libc.ptrace(PTRACE_DETACH, tid, None, None)
        if time.monotonic() > deadline:
            sys.exit(f"thread {tid} was never caught idle in {attempts} stops")
        os.sched_yield()
        attempts += 1
        stop(tid)
    print(f"thread {tid} stopped (after {attempts} stop(s))", flush=True)

    def give_up(*_):
        libc.ptrace(PTRACE_DETACH, tid, None, None)
        print(f"FAIL: the process was not killed within {timeout:.0f} s", flush=True)
        sys.exit(1)

    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(int(timeout))
    stopped_at = time.monotonic()
    while True:
        _, status = os.waitpid(tid, WALL)
        if os.WIFSIGNALED(status) or os.WIFEXITED(status):
            how = (f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
                   else f"exit {os.WEXITSTATUS(status)}")
            print(f"killed {time.monotonic() - stopped_at:.1f} s after the stop ({how})", flush=True)
            return
        # Any other stop (a signal for this very thread): it stays stopped, which is the point.

if __name__ == "__main__":
    main()
