"""Settings: typed, described fields. Precedence: defaults < config file < environment < CLI flags."""

from __future__ import annotations

import difflib
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from assistant.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

APP_NAME = "paper-assistant"
ENV_PREFIX = "ASSISTANT_"


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/paper-assistant, else ~/.local/share/paper-assistant (a relative $XDG_DATA_HOME is ignored,
    as the XDG spec says)."""
    base = os.environ.get("XDG_DATA_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share") / APP_NAME


def default_cache_dir() -> Path:
    """Per-user cache (model exports shared by every data dir): $XDG_CACHE_HOME, else ~/.cache."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / APP_NAME


def default_config_file() -> Path:
    """$XDG_CONFIG_HOME/paper-assistant/config.toml, else ~/.config/...; a relative $XDG_CONFIG_HOME is ignored."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".config") / APP_NAME / "config.toml"


def default_corpus() -> list[Path]:
    """`seeds/` in the working directory, else the corpus bundled with the package."""
    from assistant.resources import bundled

    here = Path("seeds")
    return [here if here.is_dir() else bundled("seeds")]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_assignment=True, frozen=False)

    # storage
    data_dir: Path = Field(
        default_factory=default_data_dir, description="Where the index, locks and conversations live."
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Per-user cache shared by every data dir: the embedder's ONNX/OpenVINO exports.",
    )
    collection: str = Field("papers", min_length=3, description="Base name of the Chroma collection (3+ characters).")
    chroma_url: str | None = Field(
        None, description="Use a Chroma server (http://host:port) instead of the embedded store."
    )
    chroma_headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers for the Chroma server, e.g. auth tokens."
    )
    # embedding and chunking
    embed_model: str | None = Field(
        None, description="sentence-transformers model folder; default: the bundled all-MiniLM-L6-v2."
    )
    embed_batch_size: int = Field(
        64,
        ge=1,
        le=4096,
        description="Texts per embedding batch on torch (the ONNX/OpenVINO runtimes run at most 32 at once, ordered "
        "by word pieces); an ingest hands the embedder at least 256 texts per call.",
    )
    embed_device: str = Field("cpu", description="Torch device for the embedder (cpu, cuda).")
    embed_backend: Literal["auto", "openvino", "onnx", "onnx-int8", "torch"] = Field(
        "auto",
        description="Embedding runtime. auto: openvino, else onnx, else torch (torch whenever embed_device is "
        "not cpu). openvino/onnx run a one-time ONNX export of the model cached once per user in cache_dir, without importing "
        "torch afterwards, and give the same vectors as torch; onnx-int8 is faster than onnx but changes the vectors "
        "(cos ~0.994), so switching to or from it rebuilds the index.",
    )
    chunk_tokens: int = Field(
        200, ge=32, le=256, description="Max tokens per chunk, title included (embedder window is 256)."
    )
    chunk_overlap: int = Field(1, ge=0, le=3, description="Sentences repeated between consecutive chunks of a paper.")
    # retrieval
    top_k: int = Field(3, ge=1, le=20, description="Papers given to the model as numbered sources.")
    candidates: int = Field(30, ge=5, le=1000, description="Chunks fetched from each retriever before fusion.")
    evidence_sentences: int = Field(2, ge=1, le=10, description="Evidence sentences quoted per paper.")
    other_sentences: int = Field(
        1,
        ge=1,
        le=10,
        description="Evidence sentences for sources after the first (a shorter prompt, a faster first token).",
    )
    sentence_rerank: int = Field(
        0,
        ge=0,
        le=20,
        description="Top papers whose sentences are embedded at query time to pick evidence (0: chunk scores only).",
    )
    rrf_k: int = Field(60, ge=1, le=100_000, description="Reciprocal-rank-fusion constant.")
    abstain_threshold: float = Field(
        0.9,
        ge=-1,
        le=2,
        description="Refuse when no retrieved paper reaches this dense cosine + lexical coverage and none is "
        "named by the question (README, Abstention); negative: never refuse.",
    )
    answer_style: Literal["auto", "extractive", "generative"] = Field(
        "auto",
        description="The extractive answer (the chosen evidence sentence quoted, a short answer by rule) is always "
        "made and is the floor. generative: the model also writes the answer from the same evidence, and it replaces "
        "the extractive one only when every sentence passes the citation check and it carries the extracted answer; "
        "extractive: the model never writes; auto: the model writes when its size reaches model_answer_min_params "
        "(calibrated: answer/judge/calibration/styles.json).",
    )
    model_answer_min_params: int | None = Field(
        None, ge=0, description="Model size from which answer_style=auto lets the model write (None: calibrated value)."
    )
    verdict: Literal["auto", "rule", "model", "both"] = Field(
        "auto",
        description="Who decides yes/no questions: rule (cues of the deciding sentence), model (a constrained "
        "yes/no/maybe choice by log-probability), both (combined); auto: as calibrated for the model's size.",
    )
    phrase_tokens: int = Field(24, ge=4, le=256, description="Most tokens for the model's short answer phrase.")
    model_phrase: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Ask the model for a short answer phrase (kept only if it is a span of the evidence). auto: "
        "only models of at least phrase_min_params parameters; the bundled 135M model never produced a usable "
        "phrase on the dev sets, so it is not asked and its seconds are saved.",
    )
    phrase_min_params: int = Field(300_000_000, ge=0, description="Model size from which model_phrase=auto asks it.")
    # generation
    model_path: Path | None = Field(
        None,
        description="GGUF file, or the name of a model pulled with `assistant models pull`; default: the bundled "
        "SmolLM2-135M-Instruct Q4_1.",
    )
    llm_url: str | None = Field(
        None,
        description="OpenAI-compatible server base URL (e.g. http://gpu-box:8080/v1) instead of in-process llama.cpp.",
    )
    llm_api_key: str | None = Field(None, description="Bearer token for the model server.")
    llm_model: str = Field("default", description="Model name sent to the server.")
    llm_timeout: float = Field(120.0, gt=0, le=86_400, description="Seconds before a server request is abandoned.")
    llm_retries: int = Field(2, ge=0, le=20, description="Retries with backoff when the server cannot be reached.")
    llm_deadline: float = Field(
        600.0,
        gt=0,
        le=86_400,
        description="Seconds one answer from a model server may take in all, retries included (llm_timeout bounds "
        "each read only; a server that streams forever is cut off here).",
    )
    n_ctx: int = Field(2048, ge=256, le=1_048_576, description="Context window in tokens.")
    n_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads for generation; default: all cores. At most the machine's logical cores "
        "(100,000 crashed llama.cpp, 4,096 ran for minutes).",
    )
    n_batch: int = Field(512, ge=8, le=65_536, description="Prompt-processing batch size.")
    n_gpu_layers: int = Field(0, ge=-1, le=10_000, description="Layers offloaded to the GPU (-1: all).")

    @field_validator("cache_dir")
    @classmethod
    def _a_folder(cls, value: Path) -> Path:
        # data_dir has its own check where it is opened (index/store.py: "... is a file, not a folder").
        path = Path(value).expanduser()
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} is a file, not a folder; give a folder of yours (it is created when missing)")
        return path

    @field_validator("n_threads")
    @classmethod
    def _at_most_the_cores(cls, value: int | None) -> int | None:
        cores = os.cpu_count() or 1
        if value is not None and value > cores:
            raise ValueError(f"n_threads = {value}: this machine has {cores} logical cores; use at most {cores}")
        return value

    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature (0: greedy, deterministic).")
    seed: int = Field(42, description="Sampling seed.")
    max_tokens: int = Field(96, ge=1, le=4096, description="Most tokens generated per answer.")
    repeat_penalty: float = Field(1.1, ge=0.5, le=2, description="Penalty for repeated tokens.")
    stop: list[str] = Field(default_factory=lambda: ["\n\n", "<|im_end|>", "Question:"], description="Stop sequences.")
    prompt_dir: Path | None = Field(None, description="Folder of prompt templates; default: the bundled prompts/.")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):  # noqa: D102
        # CLI flags (init) beat the environment, which beats the config file.
        return (init_settings, env_settings, _FileSource(settings_cls))

    @property
    def threads(self) -> int:
        return self.n_threads or os.cpu_count() or 1

    @property
    def lock_path(self) -> Path:
        return self.data_dir / "ingest.lock"


class _FileSource(PydanticBaseSettingsSource):
    path: Path | None = None

    def get_field_value(self, field, field_name):  # pragma: no cover - unused by __call__
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _FileSource.path
        if path is None:
            return {}
        return read_config_file(path)


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        # O_NONBLOCK: a FIFO named as the config must not hang the open; it is refused below like a device.
        with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK)) as fh:
            _check_config_mode(path, os.fstat(fh.fileno()))
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except RecursionError as exc:  # arrays nested 200,000 deep: tomllib recurses per level
        raise ConfigError(f"{path}: not valid TOML (nested too deeply to read)") from exc
    except OSError as exc:  # a directory, no permission
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from exc
    return data.get("assistant", data)


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build settings from the config file (explicit, $ASSISTANT_CONFIG, or the XDG default), env and flags."""
    path = config_file or os.environ.get("ASSISTANT_CONFIG")
    if path is None and default_config_file().is_file():
        path = default_config_file()
    check_environment(os.environ)
    _FileSource.path = Path(path) if path else None
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**overrides)
        check_data_dir(settings.data_dir)
        return settings
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        origin = f"{path}: " if path else ""
        raise ConfigError(f"{origin}{where}: {err['msg']}") from exc
    finally:
        _FileSource.path = None


# -- checks that pydantic does not make ------------------------------------------------------------------
EXTRA_ENV = {"CONFIG"}  # ASSISTANT_CONFIG: the config file's path, read by load_settings
# Never a data dir: the root, the system's own folders, and anything inside the kernel's pseudo-filesystems.
SYSTEM_DIRS = frozenset(
    "/ /bin /boot /dev /etc /home /lib /lib32 /lib64 /libx32 /media /mnt /opt /proc /root /run /sbin /srv /sys "
    "/tmp /usr /usr/bin /usr/lib /usr/lib64 /usr/local /usr/sbin /usr/share /var /var/cache /var/lib /var/log "
    "/var/tmp /Applications /Library /System /Users /Volumes /private".split()
)
PSEUDO_FS = (Path("/proc"), Path("/sys"), Path("/dev"))


def check_environment(environ: Mapping[str, str]) -> None:
    """An ASSISTANT_* variable that names no setting is a typo (ASSISTANT_TOPK): refuse it, naming the closest."""
    valid = {name.upper() for name in Settings.model_fields} | set(EXTRA_ENV)
    for var in sorted(environ):
        name = var.upper()[len(ENV_PREFIX) :]
        if not var.upper().startswith(ENV_PREFIX) or name in valid:
            continue
        close = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.6)
        hint = f"did you mean {ENV_PREFIX}{close[0]}?" if close else "the fields are listed in assistant/config.py"
        raise ConfigError(f"unknown environment variable {var}: not a setting; {hint}")


def _check_config_mode(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):  # /dev/zero would read forever; its mode says nothing about a config file
        raise ConfigError(f"{path}: the config file is not a regular file (a device or a FIFO); give a TOML file")
    # Like ssh with its keys: a file that others may write could point model_path or llm_url anywhere.
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"{path}: the config file is writable by {_who(st.st_mode)} (mode {stat.S_IMODE(st.st_mode):o}), "
            f"and it sets the model and the servers; refusing it. Fix: chmod go-w {path}"
        )


def _who(mode: int) -> str:
    return "everyone" if mode & stat.S_IWOTH else "its group"


def check_data_dir(path: Path) -> None:
    """Refuse a data dir that is a system folder, a file, someone else's folder, or writable by others."""
    given = Path(os.path.abspath(path))
    for p in {given, given.resolve()}:
        if str(p) in SYSTEM_DIRS or any(p.is_relative_to(root) for root in PSEUDO_FS):
            raise ConfigError(
                f"data_dir {path} is a system folder; choose a folder of your own, e.g. {default_data_dir()}"
            )
    try:
        st = given.stat()
    except FileNotFoundError:
        return  # created by the first ingest
    except OSError as exc:
        raise ConfigError(f"data_dir {path}: cannot be checked ({exc.strerror or exc})") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"data_dir {path} is a file, not a folder; choose another --data-dir")
    uid = os.geteuid() if hasattr(os, "geteuid") else st.st_uid
    if st.st_uid != uid:
        raise ConfigError(
            f"data_dir {path} belongs to user {_user(st.st_uid)}, not to you ({_user(uid)}); "
            "refusing an index and conversations that someone else controls. Choose a folder of your own"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"data_dir {path} is writable by {_who(st.st_mode)} (mode {stat.S_IMODE(st.st_mode):o}), so others "
            f"could change the index; refusing it. Fix: chmod go-w {path}"
        )


def _user(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)
