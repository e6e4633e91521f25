"""Benchmark `livepipe serve`: calendar.ics of N synthetic events, on loopback.

    python bench/bench_serve.py [N] [SECONDS]      (default: 10000 events, 5 s per case)

Cases: a 304 revalidation (If-None-Match with the current ETag, what calendar apps send every
refresh), a full download uncompressed, and a full download with gzip. Each runs for SECONDS
with 16 keep-alive connections, using wrk when it is installed (apt-get install wrk), else a
Python asyncio load generator (slower than wrk, so its figures are a floor). The server runs
as `livepipe serve --watch 0` in its own process.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from synth import generate  # noqa: E402

BIN = Path(sys.executable).parent
CONNECTIONS = 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk(url: str, headers: dict[str, str], seconds: float) -> tuple[float, float]:
    """(requests/s, MB/s transferred) from wrk."""
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{int(seconds)}s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    rate = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    assert rate is not None
    scale = {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}[rate.group(2)]
    return rps, float(rate.group(1)) * scale


async def _client(host: str, port: int, request: bytes, stop: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            found = re.search(rb"(?i)content-length: (\d+)", head)  # none on a 304
            length = int(found.group(1)) if found else 0
            await reader.readexactly(length)
            counts[0] += 1
            counts[1] += len(head) + length
    finally:
        writer.close()


def python_load(url: str, headers: dict[str, str], seconds: float) -> tuple[float, float]:
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    counts = [0, 0]

    async def run() -> None:
        stop = time.perf_counter() + seconds
        await asyncio.gather(
            *(_client(host, int(port), request, stop, counts) for _ in range(CONNECTIONS))
        )

    start = time.perf_counter()
    asyncio.run(run())
    took = time.perf_counter() - start
    return counts[0] / took, counts[1] / took / 1e6


def main(n: int, seconds: float) -> None:
    load = wrk if shutil.which("wrk") else python_load
    (HERE / "out").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=HERE / "out") as tmp_name:
        tmp = Path(tmp_name)
        site = generate(tmp / "site", n)
        port = free_port()
        started = time.perf_counter()
        server = subprocess.Popen(
            [str(BIN / "livepipe"), "serve", str(site), "--port", str(port), "--watch", "0",
             "--out", str(tmp / "dist")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None:
                    sys.exit("livepipe serve exited")
                time.sleep(0.2)
            ready = time.perf_counter() - started
            url = base + "/calendar.ics"
            first = httpx.get(url, headers={"Accept-Encoding": "identity"})
            etag = first.headers["etag"]
            zipped = httpx.get(url, headers={"Accept-Encoding": "gzip"})
            size = len(first.content) / 1e6
            gz = int(zipped.headers["content-length"]) / 1e6
            print(f"{n} events: calendar.ics {size:.1f} MB ({gz:.1f} MB gzipped); build and start "
                  f"{ready:.1f} s; load: {load.__name__}, {CONNECTIONS} connections, {seconds:g} s "
                  "per case")  # fmt: skip
            cases = [
                ("304 revalidation", {"If-None-Match": etag, "Accept-Encoding": "gzip"}),
                ("full download", {"Accept-Encoding": "identity"}),
                ("full download gzip", {"Accept-Encoding": "gzip"}),
            ]
            print(f"{'case':<20} {'req/s':>9} {'MB/s':>9}")
            for name, headers in cases:
                rps, mbps = load(url, headers, seconds)
                print(f"{name:<20} {rps:>9.0f} {mbps:>9.1f}")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 10000,
        float(sys.argv[2]) if len(sys.argv) > 2 else 5,
    )
