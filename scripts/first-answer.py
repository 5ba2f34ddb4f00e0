#!/usr/bin/env python3
"""Time from spawning a KMS server to its first HTTP answer, and its memory then.

    scripts/first-answer.py PORT COMMAND...

Spawns COMMAND, then tries every 0.5 ms to connect to 127.0.0.1:PORT and send
a ListKeys request until the first bytes of an answer (any status) come back;
prints the milliseconds since the spawn and the server's resident memory
(VmRSS) at that moment, then stops it. The server must listen on PORT, e.g.

    for i in $(seq 9); do scripts/first-answer.py 18500 trent server --dev --addr 127.0.0.1:18500; done
    for i in $(seq 9); do rm -rf /tmp/lk && mkdir /tmp/lk && PORT=18502 KMS_DATA_PATH=/tmp/lk scripts/first-answer.py 18502 local-kms; done
"""
import socket
import subprocess
import sys
import time

REQUEST = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentService.ListKeys\r\n"
           b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    port, cmd = int(sys.argv[1]), sys.argv[2:]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                sys.exit("%s exited with %d before answering" % (cmd[0], proc.returncode))
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(REQUEST)
                    if s.recv(16):
                        break
            except OSError:
                time.sleep(0.0005)
        elapsed = time.perf_counter() - start
        with open("/proc/%d/status" % proc.pid) as f:
            rss = next(line.split()[1] for line in f if line.startswith("VmRSS"))
        print("%.1f ms, %d MB resident" % (elapsed * 1000, int(rss) // 1024))
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
