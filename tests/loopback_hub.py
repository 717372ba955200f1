"""A loopback HTTP server speaking the part of the Hugging Face hub protocol that model pulls use.

HEAD/GET /{repo}/resolve/{revision}/{file} answers like the hub does for an LFS file: a 302 to a download URL
on another origin (a second port, as the hub's CDN is another host) with ETag, X-Linked-Etag (the sha256),
X-Linked-Size and X-Repo-Commit; GET on that URL serves the bytes, with Range. Unknown repos and files get 404 with the hub's X-Error-Code. Faults for tests: `corrupt` (one byte flipped
in what is served, the headers keep the true sha256), `cut_after` (a GET stops after that many bytes, for the
next `cuts` GETs), `delay` (seconds per 64 KiB, so a pull can be watched or interrupted).

By hand: python tests/loopback_hub.py [--port 8765] [--delay 0.002] REPO FILE PATH
then: HF_ENDPOINT=http://127.0.0.1:8765 assistant models pull REPO/FILE"""

from __future__ import annotations

import argparse
import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
BLOCK = 64 * 1024


@dataclass
class Hosted:
    path: Path
    sha256: str


@dataclass
class Hub:
    files: dict[tuple[str, str], Hosted] = field(default_factory=dict)
    corrupt: bool = False
    cut_after: int | None = None
    cuts: int = 0
    delay: float = 0.0
    log: list[dict] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    cdn: ThreadingHTTPServer | None = None

    def add(self, repo: str, filename: str, path: Path) -> Hosted:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        hosted = self.files[(repo, filename)] = Hosted(Path(path), h.hexdigest())
        return hosted

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        assert self.cdn is not None
        return f"http://127.0.0.1:{self.cdn.server_address[1]}"

    def start(self, port: int = 0) -> Hub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                hub.log.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "range": self.headers.get("Range"),
                        "authorization": self.headers.get("Authorization"),
                    }
                )
                path = self.path.split("?", 1)[0]
                if path.startswith("/cdn/"):
                    return self._serve(path[len("/cdn/") :], body)
                if "/resolve/" not in path:
                    return self._error(404, "RepoNotFound")
                repo, rest = path.lstrip("/").split("/resolve/", 1)
                revision, _, filename = rest.partition("/")
                if not any(r == repo for r, _ in hub.files):
                    return self._error(404, "RepoNotFound")
                if revision not in ("main", COMMIT):
                    return self._error(404, "RevisionNotFound")
                hosted = hub.files.get((repo, filename))
                if hosted is None:
                    return self._error(404, "EntryNotFound")
                self.send_response(302)
                self.send_header("Location", f"{hub.cdn_url}/cdn/{hosted.sha256}?repo={repo}")
                self.send_header("ETag", f'"{hosted.sha256}"')
                self.send_header("X-Linked-Etag", f'"{hosted.sha256}"')
                self.send_header("X-Linked-Size", str(hosted.path.stat().st_size))
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _error(self, status: int, code: str) -> None:
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _serve(self, sha: str, body: bool) -> None:
                hosted = next((h for h in hub.files.values() if h.sha256 == sha), None)
                if hosted is None:
                    return self._error(404, "EntryNotFound")
                size = hosted.path.stat().st_size
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[len("bytes=") :].split("-", 1)[0])
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
                self.send_header("Content-Length", str(size - start))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", f'"{sha}"')
                self.end_headers()
                if not body:
                    return
                stop = size
                if hub.cut_after is not None and hub.cuts > 0:
                    hub.cuts -= 1
                    stop = min(size, max(start, hub.cut_after))
                with open(hosted.path, "rb") as fh:
                    fh.seek(start)
                    pos = start
                    while pos < stop:
                        block = bytearray(fh.read(min(BLOCK, stop - pos)))
                        if hub.corrupt and pos <= size // 2 < pos + len(block):
                            block[size // 2 - pos] ^= 0x01
                        try:
                            self.wfile.write(block)
                        except (BrokenPipeError, ConnectionResetError):
                            return
                        pos += len(block)
                        if hub.delay:
                            time.sleep(hub.delay)
                if stop < size:
                    self.close_connection = True  # a dropped connection: fewer bytes than Content-Length

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.cdn = ThreadingHTTPServer(("127.0.0.1", port + 1 if port else 0), Handler)
        for srv in (self.server, self.cdn):
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for srv in (self.server, self.cdn):
            if srv is not None:
                srv.shutdown()
                srv.server_close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("file")
    ap.add_argument("path", type=Path)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds per 64 KiB served")
    args = ap.parse_args()
    hub = Hub(delay=args.delay)
    hosted = hub.add(args.repo, args.file, args.path)
    hub.start(args.port)
    print(f"serving {args.repo}/{args.file} (sha256 {hosted.sha256}) at {hub.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        hub.stop()


if __name__ == "__main__":
    main()
