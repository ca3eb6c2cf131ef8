"""Seed frames for fuzz_wire that the original seeds did not cover: the
handshake's Challenge, Auth and Refused, Welcome with peers, Recall,
Heartbeat, Shutdown, a FetchReply carrying a shared memory ticket (sock,
offer_a, offer_b), a Task input with one, and two sealed records.

    python3 tests/fuzz/make_corpus.py tests/fuzz/corpus

Hand-encoded protobuf (field numbers from proto/pydron.proto), so no
protobuf package is needed. Rerun after changing the messages it writes."""

import os
import struct
import sys


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def f_varint(no, v):
    return varint(no << 3) + varint(v)


def f_bytes(no, b):
    return varint(no << 3 | 2) + varint(len(b)) + b


def f_fixed64(no, v):
    return varint(no << 3 | 1) + struct.pack("<Q", v)


def frame(body_no, body, payload=b"", segments=()):
    hdr = f_bytes(body_no, body)
    for s in segments:
        hdr += f_varint(30, s)
    return b"PDRN" + struct.pack("<HHIQ", 1, 0, len(hdr), len(payload)) + hdr + payload


def shm_ref():
    return (f_varint(1, 4242) + f_varint(3, 77) + f_varint(4, 1 << 21) +
            f_fixed64(5, 0x1122334455667788) + f_fixed64(6, (5 << 32) | 0xABCD) +
            f_fixed64(7, 0xFEDCBA9876543210))


SEEDS = {
    "challenge": frame(2, f_varint(1, 2) + f_bytes(2, bytes(range(32)))),
    "auth": frame(3, f_bytes(1, bytes(range(32, 64)))),
    "refused": frame(13, f_varint(1, (1 << 64) - 9) + f_bytes(2, b"wrong shared secret")),
    "welcome": frame(4, f_varint(1, 3) + f_varint(2, 300) +
                     f_bytes(3, f_varint(1, 1) + f_bytes(2, b"tcp://10.0.0.2:4000")) +
                     f_bytes(3, f_varint(1, 2) + f_bytes(2, b"")) + f_varint(4, 4096) +
                     f_bytes(5, b"boot:4026531836:4026531840:0")),
    # Hello of a supervised replacement: version, worker id -1, nonce, kinds,
    # threads, peer URL, capabilities 3, pid, hostname, role, host id, the
    # previous worker's pid and end
    "hello_supervised": frame(1, f_varint(1, 2) + f_varint(2, (1 << 64) - 1) +
                              f_bytes(3, bytes(32)) + f_bytes(4, b"pydron.ffi") +
                              f_varint(5, 1) + f_bytes(6, b"tcp://10.0.0.2:4001") +
                              f_varint(7, 3) + f_varint(8, 4243) + f_bytes(9, b"b") +
                              f_bytes(11, b"boot:4026531836:4026531840:0") +
                              f_varint(12, 4242) + f_bytes(13, b"killed by SIGSEGV")),
    "recall": frame(14, f_varint(1, 17) + f_varint(1, 18) + f_varint(1, 1 << 40)),
    "heartbeat": frame(11, f_varint(1, 9) + f_varint(2, 123456789)),
    "shutdown": frame(12, f_bytes(1, b"driver stopping")),
    "fetch_reply_shm": frame(9, f_varint(1, 5) + f_varint(2, 5) + f_varint(5, (1 << 64) - 1) +
                             f_bytes(6, shm_ref())),
    # TaskBatch{tasks: Task{task_id, seq, kind, payload -1, inputs: Input{value 9, size,
    # where -1, segment -1, shm}}}
    "tasks_shm": frame(6, f_bytes(1, f_varint(1, 1) + f_varint(2, 1) + f_bytes(3, b"python") +
                                  f_varint(5, (1 << 64) - 1) +
                                  f_bytes(6, f_varint(1, 9) + f_varint(2, 1 << 21) +
                                          f_varint(3, (1 << 64) - 1) +
                                          f_varint(4, (1 << 64) - 1) + f_bytes(5, shm_ref())))),
    # two sealed records as they follow a handshake: [len][ciphertext][tag]
    "records": (struct.pack("<I", 20) + bytes(20) + bytes(16) +
                struct.pack("<I", 3) + b"abc" + bytes(range(16))),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
