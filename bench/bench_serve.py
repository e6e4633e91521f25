"""Benchmark `livepipe serve` on loopback, side by side with nginx and `python -m http.server`
serving the same bytes.

    python bench/bench_serve.py [N] [SECONDS]      (default: 10000 events, 5 s per case)

Cases: the subscription page `/` (what a viewer opens), `calendar.ics` of N synthetic events
revalidated (304: If-None-Match with the current ETag, what calendar apps send every
refresh), downloaded whole and gzipped. Each runs for SECONDS with 16 keep-alive
connections, using wrk (installed with apt-get when it is missing and this runs as root),
else a Python asyncio load generator (slower than wrk, so its figures are a floor).
livepipe runs as `livepipe serve --watch 0`; nginx (Debian's, installed the same way) with
one worker process, like livepipe's one process, serves a copy of what livepipe served, with
its own ETags; `python -m http.server` serves the same copy (no 304 or gzip: full bodies).
Goals (issue 28): `/` >= 0.5x http.server; the 304 path >= 0.3x nginx.
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


def apt_install(*packages: str) -> None:
    """Debian packages the benchmark compares against, when missing and root may install."""
    import os

    path = os.environ.get("PATH", "") + ":/usr/sbin"
    missing = [p for p in packages if not shutil.which(p, path=path)]
    if not missing or os.geteuid() != 0:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(cmd, capture_output=True, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        subprocess.run(cmd, capture_output=True, env=env)


NGINX_CONF = """
daemon off;
user root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    types {{ text/html html; text/calendar ics; }}
    gzip on;
    gzip_types text/calendar;
    gzip_static on;
    etag on;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        index index.html;
    }}
}}
"""


def peers(www: Path) -> list[tuple[str, str, subprocess.Popen[bytes]]]:
    """nginx and python -m http.server on ``www``: (name, base URL, process) of each that
    could be started."""
    import os

    out = []
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx:
        root = www.parent / "nginx"
        (root / "tmp").mkdir(parents=True)
        port = free_port()
        (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=port))
        os.symlink(www, root / "www")
        proc = subprocess.Popen(
            [nginx, "-c", str(root / "nginx.conf"), "-p", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        out.append(("nginx", f"http://127.0.0.1:{port}", proc))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(www)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    out.append(("http.server", f"http://127.0.0.1:{port}", proc))
    for _name, base, _proc in out:
        _wait(base + "/")
    return out


def _wait(url: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def main(n: int, seconds: float) -> None:
    apt_install("wrk", "nginx")
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
            zipped = httpx.get(url, headers={"Accept-Encoding": "gzip"})
            size = len(first.content) / 1e6
            gz = int(zipped.headers["content-length"]) / 1e6
            print(f"{n} events: calendar.ics {size:.1f} MB ({gz:.1f} MB gzipped); build and start "
                  f"{ready:.1f} s; load: {load.__name__}, {CONNECTIONS} connections, {seconds:g} s "
                  "per case")  # fmt: skip
            # the same bytes for the peers: the page and the calendar as livepipe served them
            www = tmp / "www"
            www.mkdir()
            (www / "index.html").write_bytes(httpx.get(base + "/").content)
            (www / "calendar.ics").write_bytes(first.content)
            import gzip

            (www / "calendar.ics.gz").write_bytes(gzip.compress(first.content, 6))
            others = peers(www)
            try:
                rows: list[tuple[str, str, float, float]] = []
                servers = [("livepipe", base), *((name, url) for name, url, _ in others)]
                for server_name, root in servers:
                    page, ics = root + "/", root + "/calendar.ics"
                    tag = httpx.get(ics, headers={"Accept-Encoding": "gzip"}).headers.get("etag")
                    cases = [("/", page, {"Accept-Encoding": "gzip"})]
                    if tag and server_name != "http.server":
                        cases.append(
                            ("calendar 304", ics, {"If-None-Match": tag, "Accept-Encoding": "gzip"})
                        )
                    cases += [
                        ("calendar full", ics, {"Accept-Encoding": "identity"}),
                        ("calendar gzip", ics, {"Accept-Encoding": "gzip"}),
                    ]
                    for case, url_, headers in cases:
                        rps, mbps = load(url_, headers, seconds)
                        rows.append((case, server_name, rps, mbps))
            finally:
                for _name, _url, proc in others:
                    proc.terminate()
                    proc.wait(timeout=10)
            print(f"{'case':<15} {'server':<12} {'req/s':>9} {'MB/s':>9} {'livepipe is':>13}")
            ours = {case: rps for case, who, rps, _ in rows if who == "livepipe"}
            for case, who, rps, mbps in rows:
                ratio = "" if who == "livepipe" else f"{ours.get(case, 0) / rps:.2f}x this"
                print(f"{case:<15} {who:<12} {rps:>9.0f} {mbps:>9.1f} {ratio:>13}")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 10000,
        float(sys.argv[2]) if len(sys.argv) > 2 else 5,
    )
