"""`pull`: a GGUF from the Hugging Face hub into the per-user model folder, resumable and verified.

huggingface_hub supplies the protocol: the endpoint (`HF_ENDPOINT`), the token (`HF_TOKEN` or a saved login), the
offline switch (`HF_HUB_OFFLINE`), the file URL and its metadata (`get_hf_file_metadata`: the commit, the size and
the LFS sha256 from X-Linked-Etag/X-Linked-Size, after the hub's redirects). The bytes are streamed here rather
than by `hf_hub_download` because this needs three things it does not give in every version: it never checks the
sha256 of what it wrote (a flipped byte was accepted, see DESIGN.md), recent releases delete a partial download
instead of resuming it in the next process, and its tqdm bar cannot be turned into plain progress lines.

The steps: metadata (one HEAD), a free-disk check, then GET with `Range: bytes=N-` into
`.partial/<name>/<file>.<sha256[:16]>.part`, hashing as it goes (a resumed part is hashed first), an in-process
retry of a dropped connection from where it stopped, and only when the sha256 matches an atomic rename to
`<name>/<file>`. An interrupted pull leaves the part file; the next pull of the same name continues it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from assistant.config import Settings
from assistant.errors import ConfigError, DownloadError
from assistant.models.catalogue import SHA256_RE, Entry
from assistant.models.installed import PARTIAL, RECORD, Installed, models_dir, pulled_models
from assistant.text import printable

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]  # (bytes done, bytes total)
CHUNK = 1 << 20
RETRIES = 3  # a dropped connection is resumed this many times in-process before the pull gives up
DISK_MARGIN = 64 << 20  # left free beyond the file itself
TRUE = {"1", "on", "yes", "true"}


@dataclass
class Remote:
    url: str  # where the bytes are (after the hub's redirects)
    size: int
    sha256: str
    commit: str


@dataclass
class PullResult:
    model: Installed
    downloaded: int  # bytes fetched by this pull
    resumed_from: int  # bytes a previous, interrupted pull had left
    already: bool = False  # installed and verified before: nothing fetched


def _hf_constants():
    from huggingface_hub import constants

    # Nothing beyond the download itself leaves the machine (as with Chroma's anonymized_telemetry=False):
    # huggingface_hub's telemetry adds library versions to the user agent and, for that, fetches a list of
    # "agent harnesses" from the endpoint. A user's own HF_HUB_DISABLE_TELEMETRY setting is left as it is.
    if "HF_HUB_DISABLE_TELEMETRY" not in os.environ:
        constants.HF_HUB_DISABLE_TELEMETRY = True
    return constants


def hub_offline() -> bool:
    constants = _hf_constants()

    # huggingface_hub reads its environment once, at import, perhaps while the embedder held the hub closed
    # (index/embedding.hub_closed): the user's variable as it is now decides, and the library is told so.
    env = os.environ.get("HF_HUB_OFFLINE")
    offline = env is not None and env.strip().lower() in TRUE
    constants.HF_HUB_OFFLINE = offline
    return offline


def hub_endpoint() -> str:
    constants = _hf_constants()

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _token() -> str | None:
    return os.environ.get("HF_TOKEN") or None  # None: huggingface_hub looks for a saved login itself


def _unreachable(endpoint: str, exc: BaseException) -> DownloadError:
    return DownloadError(
        f"cannot reach the model hub at {endpoint} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no answer'}); "
        "check the network or HF_ENDPOINT, then run the same command again"
    )


def remote_file(entry: Entry) -> Remote:
    """The file's metadata from the hub (one HEAD request); DownloadError with the cause when it fails."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = hub_endpoint()
    if hub_offline():
        raise DownloadError(
            "HF_HUB_OFFLINE is set, so nothing can be downloaded; installed models still work "
            "(assistant models list). Unset HF_HUB_OFFLINE to pull"
        )
    url = hf_hub_url(entry.repo, entry.file, revision=entry.revision, endpoint=endpoint)
    if not url.startswith(endpoint + "/"):  # hf_hub_url swaps in `endpoint` only for the endpoint it imported with
        url = f"{endpoint}/{url.split('/', 3)[3]}"
    where = f"{entry.repo}/{entry.file}"
    try:
        meta = get_hf_file_metadata(url, token=_token(), timeout=15)
    except GatedRepoError as exc:
        raise DownloadError(
            f"{entry.repo} is gated: accept its licence on the hub, then set HF_TOKEN to a token of yours"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise DownloadError(f"no repository {entry.repo} on the hub (or it is private: set HF_TOKEN)") from exc
    except RevisionNotFoundError as exc:
        raise DownloadError(f"{entry.repo} has no revision {entry.revision!r}") from exc
    except EntryNotFoundError as exc:
        raise DownloadError(f"{where}: no such file in the repository") from exc
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", "?")
        if isinstance(status, int) and status >= 500:
            raise _unreachable(endpoint, exc) from exc
        raise DownloadError(f"{where}: the hub answered HTTP {status}") from exc
    except Exception as exc:  # connection refused, DNS, TLS, timeout: the client library's own types vary by version
        raise _unreachable(endpoint, exc) from exc
    sha = (entry.sha256 or meta.etag or "").strip('"').lower()
    if not SHA256_RE.fullmatch(sha):
        raise DownloadError(
            f"{where}: the hub gives no sha256 for this file (not an LFS file?), so it cannot be verified; not pulled"
        )
    if not meta.size or not meta.commit_hash:
        raise DownloadError(f"{where}: the hub's answer lacks the file size or commit; not pulled")
    return Remote(url=meta.location or url, size=int(meta.size), sha256=sha, commit=meta.commit_hash)


def _check_disk(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed + DISK_MARGIN:
        raise DownloadError(
            f"not enough disk space in {folder}: the download needs {needed / 2**30:.2f} GiB more and "
            f"{free / 2**30:.2f} GiB are free; free some space (or set cache_dir elsewhere) and pull again"
        )


def _headers(url: str) -> dict[str, str]:
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers(token=_token())
    if urlsplit(url).netloc != urlsplit(hub_endpoint()).netloc:
        headers.pop("authorization", None)  # a CDN redirect target never gets the user's token
    headers["Accept-Encoding"] = "identity"  # byte ranges of the file itself, not of a compressed stream
    return headers


def _fetch(remote: Remote, part: Path, hasher, progress: Progress | None):
    """Append the rest of the file to `part` (GET with Range), retrying a dropped connection from where it
    stopped. Returns the bytes fetched and the hash of the whole file (a new one if the server made it start over)."""
    import httpx

    fetched, attempt = 0, 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if have >= remote.size:
            return fetched, hasher
        headers = _headers(remote.url)
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with httpx.stream(
                "GET", remote.url, headers=headers, timeout=httpx.Timeout(30, connect=15), follow_redirects=True
            ) as resp:
                if resp.status_code in (408, 429, 500, 502, 503, 504):  # the server's trouble, maybe passing: retry
                    raise httpx.RemoteProtocolError(f"HTTP {resp.status_code} from {urlsplit(remote.url).netloc}")
                if resp.status_code not in (200, 206):
                    raise DownloadError(f"download failed: HTTP {resp.status_code} from {urlsplit(remote.url).netloc}")
                mode = "ab"
                if have and resp.status_code == 200:  # the server ignored the Range: start over
                    log.warning("the server does not resume downloads; starting %s over", part.name)
                    hasher = hashlib.sha256()
                    mode, have = "wb", 0
                with open(part, mode) as fh:
                    for chunk in resp.iter_bytes():  # as received: a dropped connection loses nothing read
                        if have + len(chunk) > remote.size:
                            raise DownloadError(f"download failed: the server sent more than {remote.size} bytes")
                        fh.write(chunk)
                        hasher.update(chunk)
                        have += len(chunk)
                        fetched += len(chunk)
                        attempt = 0  # progress resets the retry budget, as huggingface_hub does
                        if progress is not None:
                            progress(have, remote.size)
            if have < remote.size:
                raise httpx.RemoteProtocolError(f"connection closed at byte {have} of {remote.size}")
        except (httpx.TransportError, OSError) as exc:
            if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
                raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from exc
            attempt += 1
            if attempt > RETRIES:
                raise DownloadError(
                    f"the download stopped ({type(exc).__name__}: {exc}) with {have / 2**20:.1f} of "
                    f"{remote.size / 2**20:.1f} MiB kept; run the same command again to resume"
                ) from exc
            log.warning("download interrupted (%s); resuming from byte %d", exc, have)
            time.sleep(min(2 ** (attempt - 1), 8))


def _hash_existing(part: Path, hasher) -> int:
    size = 0
    with open(part, "rb") as fh:
        while block := fh.read(CHUNK):
            hasher.update(block)
            size += len(block)
    return size


def _write_record(folder: Path, entry: Entry, remote: Remote) -> dict:
    record = {
        "name": entry.name,
        "repo": entry.repo,
        "file": entry.file,
        "revision": remote.commit,
        "sha256": remote.sha256,
        "size": remote.size,
        "pulled": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = folder / (RECORD + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / RECORD)
    return record


_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_FILE = re.compile(r"[A-Za-z0-9._/-]+\.gguf", re.IGNORECASE)


def _check_names(entry: Entry) -> None:
    """The hub's own grammar for repo ids, and a plain .gguf path: a bad spec is a usage error, not a crash."""
    if not _REPO.fullmatch(entry.repo or ""):
        raise ConfigError(
            f"{printable(entry.repo)!r} is not a hub repository (OWNER/NAME: letters, digits, '-', '_', '.'); "
            "give a catalogue name (assistant models list --available) or OWNER/NAME/FILE.gguf"
        )
    if not _FILE.fullmatch(entry.file or "") or ".." in entry.file.split("/"):
        raise ConfigError(f"{printable(entry.file)!r} is not a .gguf file name in {entry.repo}")


def pull(settings: Settings, entry: Entry, progress: Progress | None = None, force: bool = False) -> PullResult:
    """Download `entry` into the model folder (see the module docstring). An installed model whose recorded
    sha256 the hub still gives is left alone (no download) unless `force`."""
    from filelock import FileLock, Timeout

    _check_names(entry)
    root = models_dir(settings)
    final_dir = root / entry.name
    final = final_dir / entry.file.rsplit("/", 1)[-1]
    existing = next((m for m in pulled_models(settings) if m.name == entry.name), None)
    if existing is not None and existing.record.get("repo") not in (None, entry.repo) and not force:
        raise ConfigError(
            f"{entry.name} is installed from {existing.record.get('repo')}, not {entry.repo}; "
            "pull with --force to replace it, or remove it first: assistant models remove " + entry.name
        )
    if existing is not None and not force and hub_offline():
        return PullResult(existing, 0, 0, already=True)  # nothing to ask the hub; it is there
    remote = remote_file(entry)
    if existing is not None and not force and existing.record.get("sha256") == remote.sha256:
        return PullResult(existing, 0, 0, already=True)
    partial = root / PARTIAL / entry.name
    try:
        partial.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise DownloadError(
            f"cannot create {partial}: {exc.strerror or exc}; set cache_dir to a folder of yours"
        ) from exc
    lock = FileLock(str(root / PARTIAL / f"{entry.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise DownloadError(f"another pull of {entry.name} is running; wait for it to finish") from exc
    try:
        return _download(entry, remote, partial, final, progress)
    except OSError as exc:  # disk full, permissions: one line, and the bytes kept so far stay for a resume
        raise DownloadError(f"cannot write the model under {root}: {exc.strerror or exc}") from exc
    finally:
        lock.release()


def _download(entry: Entry, remote: Remote, partial: Path, final: Path, progress: Progress | None) -> PullResult:
    """The locked part of a pull: resume or start the part file, fetch, verify, publish."""
    final_dir = final.parent
    part = partial / f"{final.name}.{remote.sha256[:16]}.part"
    for stale in partial.glob("*.part"):
        if stale != part:  # a download of another version of this file: its bytes are no use now
            stale.unlink()
    hasher = hashlib.sha256()
    have = _hash_existing(part, hasher) if part.exists() else 0
    if have > remote.size:
        part.unlink()
        hasher, have = hashlib.sha256(), 0
    _check_disk(partial, remote.size - have)
    if progress is not None:
        progress(have, remote.size)
    fetched, hasher = _fetch(remote, part, hasher, progress)
    got = hasher.hexdigest()
    if got != remote.sha256:
        part.unlink()
        raise DownloadError(
            f"{entry.file}: sha256 mismatch (expected {remote.sha256[:16]}..., got {got[:16]}...); "
            "the corrupt download was deleted and nothing was installed; pull again"
        )
    with open(part, "rb+") as fh:
        if fh.read(4) != b"GGUF":  # the published hash of a web page matches too: it is still no model
            fh.close()
            part.unlink()
            raise DownloadError(f"{entry.file} from {entry.repo} is not a GGUF model file; nothing was installed")
        os.fsync(fh.fileno())  # the bytes are on disk before the name says the file is complete
    final_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for old in final_dir.glob("*.gguf"):
        if old.name != final.name:
            old.unlink()
    os.replace(part, final)
    record = _write_record(final_dir, entry, remote)
    shutil.rmtree(partial, ignore_errors=True)
    return PullResult(Installed(entry.name, final, record=record), fetched, have)


def partial_bytes(settings: Settings, name: str) -> int:
    """Bytes an interrupted pull of `name` has kept (0 if none)."""
    folder = models_dir(settings) / PARTIAL / name
    return sum(p.stat().st_size for p in folder.glob("*.part")) if folder.is_dir() else 0
