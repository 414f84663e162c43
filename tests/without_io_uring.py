"""Runs a program where io_uring is refused, as Docker's default seccomp
profile refuses it (tests/uring_refused.rs):

    python3 tests/without_io_uring.py PROGRAM [ARGS...]

Installs a seccomp filter that fails io_uring_setup with EPERM (every other
system call allowed), then execs PROGRAM, which inherits the filter.
"""

import ctypes
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
# io_uring_setup's number in the table every architecture shares since 5.1.
IO_URING_SETUP = 425
# Classic BPF: load the word at offset 0 of seccomp_data (the call's number),
# compare, return.
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06


def instruction(code, jump_true, jump_false, k):
    return struct.pack("HBBI", code, jump_true, jump_false, k)


def refuse_io_uring():
    program = b"".join([
        instruction(BPF_LD_W_ABS, 0, 0, 0),
        instruction(BPF_JEQ_K, 0, 1, IO_URING_SETUP),
        instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        instruction(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ])
    filters = ctypes.create_string_buffer(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program) // 8, ctypes.addressof(filters))
    libc = ctypes.CDLL(None, use_errno=True)
    for args in [(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
                 (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0)]:
        if libc.prctl(*[ctypes.c_ulong(a) for a in args]) != 0:
            sys.exit(f"prctl{args[:2]}: {os.strerror(ctypes.get_errno())}")


if __name__ == "__main__":
    refuse_io_uring()
    os.execv(sys.argv[1], sys.argv[1:])
