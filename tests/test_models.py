"""`assistant models`: pulls from a loopback hub (tests/loopback_hub.py) serving the bundled GGUF, verified and
resumable; list, use, remove; `--model NAME`; doctor's GPU advice. Nothing here reaches the internet."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import stat
from pathlib import Path

import pytest

from assistant.cli.main import main
from assistant.config import load_settings
from assistant.errors import ModelError
from assistant.generate.llama import default_model_path
from assistant.models import advice, hub
from assistant.models import catalogue as cat
from assistant.models.gguf import FILE_TYPES, read_gguf
from assistant.models.installed import installed_models, models_dir, resolve_model
from tests.loopback_hub import Hub

REPO, FILE = "test-org/SmolLM2-135M-Instruct-GGUF", "smollm2-135m-instruct-q4_1.gguf"
SPEC, NAME = f"{REPO}/{FILE}", "smollm2-135m-instruct-q4_1"
BUNDLED = default_model_path()


@pytest.fixture(scope="module")
def bundled_sha() -> str:
    return hashlib.sha256(BUNDLED.read_bytes()).hexdigest()


@pytest.fixture
def loopback(monkeypatch, tmp_path):
    server = Hub()
    server.add(REPO, FILE, BUNDLED)
    server.start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # never the real ~/.cache/huggingface
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hub.time, "sleep", lambda s: None)  # retry backoff
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """No test here may reach the internet: any connection or name lookup beyond this machine fails loudly."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo
    local = {"127.0.0.1", "::1", "localhost"}

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in local:
            raise AssertionError(f"a test tried to connect to {address}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in local and host is not None:
            raise AssertionError(f"a test tried to look up {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def no_pulled_models(settings):
    """The per-user cache is shared by the session (the embedder's exports): each test starts without models."""
    shutil.rmtree(models_dir(settings), ignore_errors=True)
    yield
    shutil.rmtree(models_dir(settings), ignore_errors=True)


def pulled_file(settings) -> Path:
    return models_dir(settings) / NAME / FILE


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- the catalogue: shape only -------------------------------------------------------------------------------
def test_catalogue_entries_have_the_shape_the_commands_need():
    entries = cat.catalogue()
    names = [e.name for e in entries]
    assert len(names) == len(set(names)) >= 4
    sizes = {float(e.params.rstrip("B")) for e in entries}
    for wanted in (0.5, 1.5, 3.0, 7.0):  # about 0.5B, 1.5B, 3B, 7B
        assert any(abs(s - wanted) / wanted < 0.15 for s in sizes), wanted
    for e in entries:
        assert cat.NAME_RE.fullmatch(e.name) and re.fullmatch(r"[\w.-]+/[\w.-]+", e.repo), e
        assert e.file.endswith(".gguf") and e.quant in FILE_TYPES.values() and e.revision
        assert e.size_mb > 0 and e.ram_gb * 1000 > e.size_mb and e.layers > 0 and e.licence
        assert e.measured.startswith(("measured here", "not measured")), e.measured
        assert not e.sha256 or cat.SHA256_RE.fullmatch(e.sha256)
        assert cat.parse_spec(e.name) == e
    text = (Path(cat.__file__).parent / "catalogue.toml").read_text()
    assert "http" not in text  # the endpoint comes from huggingface_hub / HF_ENDPOINT, never from the data


def test_a_hub_file_spec_and_a_name_not_in_the_catalogue(loopback, capsys):
    e = cat.parse_spec("Org/Repo-GGUF/sub/Model-Q4_K_M.gguf")
    assert (e.repo, e.file, e.name) == ("Org/Repo-GGUF", "sub/Model-Q4_K_M.gguf", "model-q4_k_m")
    rc = main(["models", "pull", "qwen2.5-1.5b-instruc"])
    line = one_error_line(capsys.readouterr().err)
    assert rc == 2 and "not in the model catalogue" in line and "did you mean qwen2.5-1.5b-instruct?" in line
    assert loopback.log == []  # refused before any request


# -- GGUF header ---------------------------------------------------------------------------------------------
def test_gguf_header_of_the_bundled_model(tmp_path):
    info = read_gguf(BUNDLED)
    assert (info.architecture, info.quant, info.context_length, info.layers) == ("llama", "Q4_1", 8192, 30)
    assert info.chat_template and 134e6 < info.params < 136e6
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(BUNDLED.read_bytes()[:100_000])
    with pytest.raises(ModelError, match="cannot read the GGUF header"):
        read_gguf(cut)


# -- pull ----------------------------------------------------------------------------------------------------
def test_pull_installs_a_verified_file_and_list_shows_it(loopback, settings, bundled_sha, capsys):
    assert main(["models", "pull", SPEC]) == 0
    out, err = capsys.readouterr()
    path = pulled_file(settings)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == bundled_sha
    assert f"installed {NAME}: {path}" in out and "sha256 verified" in out
    assert "100%" in err and "93.8 of 93.8 MiB" in err  # plain progress lines off a terminal
    record = json.loads((path.parent / "pulled.json").read_text())
    assert record["sha256"] == bundled_sha and record["repo"] == REPO and len(record["revision"]) == 40
    assert not any((models_dir(settings) / ".partial").glob("*/*"))
    assert [e["method"] for e in loopback.log] == ["HEAD", "GET"]
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["smollm2-135m-instruct"]["bundled"] and rows["smollm2-135m-instruct"]["in_use"]
    row = rows[NAME]
    assert row["quant"] == "Q4_1" and row["context_length"] == 8192 and row["chat_template"] and not row["in_use"]
    assert main(["models", "pull", SPEC]) == 0  # again: nothing fetched
    assert "already installed" in capsys.readouterr().out and loopback.log[-1]["method"] == "HEAD"


def test_pull_by_catalogue_name_checks_the_catalogue_sha256(loopback, monkeypatch, settings, bundled_sha, capsys):
    entry = cat.Entry(name="tiny-test", repo=REPO, file=FILE, sha256=bundled_sha, size_mb=98, ram_gb=0.5, layers=30)
    monkeypatch.setattr(cat, "catalogue", lambda: (entry,))
    assert main(["models", "pull", "tiny-test"]) == 0
    assert (models_dir(settings) / "tiny-test" / FILE).is_file()
    wrong = cat.Entry(name="tiny-wrong", repo=REPO, file=FILE, sha256="0" * 64)
    monkeypatch.setattr(cat, "catalogue", lambda: (wrong,))
    assert main(["models", "pull", "tiny-wrong"]) == 9
    assert "sha256 mismatch" in one_error_line(capsys.readouterr().err)
    assert not (models_dir(settings) / "tiny-wrong").exists()


def test_a_dropped_connection_is_resumed_in_the_same_pull(loopback, settings, bundled_sha):
    loopback.cut_after, loopback.cuts = 30_000_000, 1
    assert main(["models", "pull", SPEC]) == 0
    gets = [e for e in loopback.log if e["method"] == "GET"]
    assert [g["range"] for g in gets] == [None, "bytes=30000000-"]
    assert hashlib.sha256(pulled_file(settings).read_bytes()).hexdigest() == bundled_sha


def test_an_interrupted_pull_resumes_in_the_next_one(loopback, monkeypatch, settings, bundled_sha, capsys):
    monkeypatch.setattr(hub, "RETRIES", 1)
    loopback.cut_after, loopback.cuts = 40_000_000, 5
    assert main(["models", "pull", SPEC]) == 9
    line = one_error_line(capsys.readouterr().err)
    assert "run the same command again to resume" in line and "38.1 of 93.8 MiB kept" in line
    assert not pulled_file(settings).parent.exists()  # nothing visible: not listed, not usable by name
    with pytest.raises(ModelError, match="neither a file nor an installed model"):
        resolve_model(settings.model_copy(update={"model_path": Path(NAME)}))
    assert hub.partial_bytes(settings, NAME) == 40_000_000
    loopback.cuts, loopback.log[:] = 0, []
    assert main(["models", "pull", SPEC]) == 0
    out, err = capsys.readouterr()
    assert "resuming: 38.1 MiB kept from an interrupted pull" in err and "resumed at 38.1 MiB, fetched 55.7 MiB" in out
    assert [e["range"] for e in loopback.log if e["method"] == "GET"] == ["bytes=40000000-"]
    assert hashlib.sha256(pulled_file(settings).read_bytes()).hexdigest() == bundled_sha


def test_ctrl_c_keeps_the_partial_download_for_the_next_pull(loopback, settings, bundled_sha):
    entry = cat.parse_spec(SPEC)

    def interrupt(done: int, total: int) -> None:
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hub.pull(settings, entry, progress=interrupt)
    kept = hub.partial_bytes(settings, NAME)
    assert BUNDLED.stat().st_size // 2 < kept < BUNDLED.stat().st_size and not pulled_file(settings).exists()
    result = hub.pull(settings, entry)
    assert result.resumed_from == kept and result.downloaded == BUNDLED.stat().st_size - kept
    assert result.model.record["sha256"] == bundled_sha == hashlib.sha256(result.model.path.read_bytes()).hexdigest()


def test_a_corrupted_byte_is_rejected_and_nothing_is_installed(loopback, settings, capsys):
    loopback.corrupt = True
    assert main(["models", "pull", SPEC]) == 9
    line = one_error_line(capsys.readouterr().err)
    assert "sha256 mismatch" in line and "nothing was installed" in line
    assert not pulled_file(settings).parent.exists() and hub.partial_bytes(settings, NAME) == 0
    loopback.corrupt = False
    assert main(["models", "pull", SPEC]) == 0  # a clean pull afterwards starts from scratch


def test_hub_down_is_one_line_and_exit_9(monkeypatch, tmp_path, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert main(["models", "pull", SPEC]) == 9
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: cannot reach the model hub at http://127.0.0.1:{port}")


def test_offline_mode_refuses_pulls_and_installed_models_still_work(loopback, monkeypatch, settings, capsys):
    assert main(["models", "pull", SPEC]) == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loopback.log[:] = []
    assert main(["models", "pull", SPEC]) == 0  # installed: nothing to ask the hub
    assert main(["models", "pull", "Other/Repo-GGUF/other.gguf"]) == 9
    assert "HF_HUB_OFFLINE is set" in one_error_line(capsys.readouterr().err)
    assert main(["models", "list"]) == 0 and NAME in capsys.readouterr().out
    assert loopback.log == []


@pytest.mark.parametrize(
    "spec,message",
    [
        (f"{REPO}/missing.gguf", "missing.gguf: no such file in the repository"),
        ("nobody/Nothing-GGUF/x.gguf", "no repository nobody/Nothing-GGUF on the hub"),
    ],
)
def test_a_file_or_repo_the_hub_lacks(loopback, spec, message, capsys):
    assert main(["models", "pull", spec]) == 9
    assert message in one_error_line(capsys.readouterr().err)


def test_two_pulls_of_one_model_do_not_mix(loopback, settings, capsys):
    from filelock import FileLock

    (models_dir(settings) / ".partial" / NAME).mkdir(parents=True)
    with FileLock(str(models_dir(settings) / ".partial" / f"{NAME}.lock")):
        assert main(["models", "pull", SPEC]) == 9
    assert "another pull of smollm2-135m-instruct-q4_1 is running" in one_error_line(capsys.readouterr().err)


def test_the_token_goes_to_the_hub_and_not_to_the_download_host(loopback, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_loopbacktesttoken")
    assert main(["models", "pull", SPEC]) == 0
    head, get = loopback.log
    assert head["authorization"] == "Bearer hf_loopbacktesttoken" and get["authorization"] is None


def test_free_disk_is_checked_before_downloading(loopback, monkeypatch, capsys):
    monkeypatch.setattr(hub.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 10**12, 10**6))
    assert main(["models", "pull", SPEC]) == 9
    assert "not enough disk space" in one_error_line(capsys.readouterr().err)
    assert [e["method"] for e in loopback.log] == ["HEAD"]


# -- use, --model NAME, remove --------------------------------------------------------------------------------
def test_use_writes_model_path_and_names_resolve(loopback, settings, tmp_path, capsys):
    assert main(["models", "pull", SPEC]) == 0
    config = tmp_path / "config" / "paper-assistant" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('# mine\ntop_k = 4\n\n[chroma_headers]\nAuthorization = "Bearer x"\n')
    config.chmod(0o600)
    assert main(["models", "use", NAME]) == 0
    text = config.read_text()
    assert text.startswith("# mine\ntop_k = 4\n") and f'model_path = "{pulled_file(settings)}"' in text
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    s = load_settings()
    assert (
        s.top_k == 4 and s.chroma_headers == {"Authorization": "Bearer x"} and resolve_model(s) == pulled_file(settings)
    )
    assert resolve_model(settings.model_copy(update={"model_path": Path(NAME)})) == pulled_file(settings)
    with pytest.raises(ModelError, match="pull it first: assistant models pull qwen2.5-1.5b-instruct"):
        resolve_model(settings.model_copy(update={"model_path": Path("qwen2.5-1.5b-instruct")}))
    assert main(["models", "use", "smollm2-135m-instruct"]) == 0  # the bundled model: the key goes
    assert "model_path" not in config.read_text() and load_settings().model_path is None
    config.chmod(0o664)  # the config file checks still apply
    capsys.readouterr()
    assert main(["models", "use", NAME]) == 2
    assert "writable by its group" in one_error_line(capsys.readouterr().err)


def test_use_inside_an_assistant_table_and_of_a_model_not_pulled(loopback, tmp_path, capsys, monkeypatch):
    config = tmp_path / "cfg.toml"
    config.write_text('[assistant]\ntop_k = 2\nmodel_path = "/old.gguf"\n')
    config.chmod(0o600)
    monkeypatch.setenv("ASSISTANT_CONFIG", str(config))
    assert main(["models", "pull", SPEC]) == 0
    assert main(["models", "use", NAME]) == 0
    assert load_settings().model_path == pulled_file(load_settings()) and "/old.gguf" not in config.read_text()
    capsys.readouterr()
    assert main(["models", "use", "qwen2.5-7b-instruct"]) == 2
    assert "pull it first" in one_error_line(capsys.readouterr().err)


def test_remove_deletes_a_pulled_model_but_never_the_bundled_one(loopback, settings, capsys):
    assert main(["models", "pull", SPEC]) == 0
    assert main(["models", "remove", NAME]) == 0 and not pulled_file(settings).parent.exists()
    assert main(["models", "remove", "smollm2-135m-instruct"]) == 2
    assert main(["models", "remove", NAME]) == 2
    assert BUNDLED.is_file()


def test_remove_takes_only_a_listed_name_never_a_path(loopback, settings, capsys, tmp_path):
    """`models remove /tmp/x`, `..` or `../x` deleted what they named; now only a name `models list` shows."""
    assert main(["models", "pull", SPEC]) == 0
    victim = tmp_path / "victim"
    (victim / "inner").mkdir(parents=True)
    (victim / "inner" / "keep.txt").write_text("data")
    root = models_dir(settings)
    (root / ".partial").mkdir(parents=True, exist_ok=True)
    outside = root.parent / "precious"
    outside.mkdir(parents=True, exist_ok=True)
    (root / "linked").symlink_to(victim, target_is_directory=True)
    (victim / "m.gguf").write_bytes(b"GGUF")  # a link to a folder with a GGUF in it is listed, never deleted
    capsys.readouterr()
    for bad in [str(victim), str(victim / "inner"), "..", "../precious", ".", "/", "../gguf", "linked", ""]:
        assert main(["models", "remove", bad]) == 2, bad
        assert len(one_error_line(capsys.readouterr().err).splitlines()) == 1
    assert (victim / "inner" / "keep.txt").read_text() == "data" and (victim / "m.gguf").exists()
    assert outside.is_dir() and pulled_file(settings).is_file() and BUNDLED.is_file()
    assert main(["models", "remove", NAME.upper()]) == 0 and not pulled_file(settings).parent.exists()


def test_pull_rejects_bad_names_a_non_gguf_file_and_a_same_named_model_of_another_repo(
    loopback, settings, capsys, tmp_path
):
    """Item 10 of round four: exit 70 on a spec with spaces; a hub page whose sha256 matched was installed; a
    same-named file of another repo silently replaced the installed model."""
    for bad in ["a b/c d/e f.gguf", "org/repo/../../x.gguf", "org/re po/m.gguf"]:
        assert main(["models", "pull", bad]) == 2, bad
        assert len(one_error_line(capsys.readouterr().err).splitlines()) == 1
    page = tmp_path / "page.gguf"
    page.write_text("<html>not a model</html>")
    loopback.add("test-org/html", "page.gguf", page)
    assert main(["models", "pull", "test-org/html/page.gguf"]) == 9
    assert "not a GGUF model file" in one_error_line(capsys.readouterr().err)
    assert not (models_dir(settings) / "page").exists()
    assert main(["models", "pull", SPEC]) == 0
    loopback.add("other-org/SmolLM2-135M-Instruct-GGUF", FILE, BUNDLED)
    capsys.readouterr()
    assert main(["models", "pull", f"other-org/SmolLM2-135M-Instruct-GGUF/{FILE}"]) == 2
    assert "is installed from test-org/" in one_error_line(capsys.readouterr().err)
    assert json.loads((pulled_file(settings).parent / "pulled.json").read_text())["repo"] == REPO


# -- doctor's GPU advice ---------------------------------------------------------------------------------------
def test_layer_advice_and_what_fits():
    gib = advice.GiB
    assert advice.suggest_layers(4 * gib, 28, 8 * gib) == -1
    assert advice.suggest_layers(4 * gib, 28, int(2.5 * gib)) == 14
    assert advice.suggest_layers(4 * gib, 28, gib // 4) == 0
    fit = advice.fit_lines(ram_free=3 * gib, vram_free=None)
    assert "qwen2.5-coder-0.5b-instruct" in fit["in RAM (CPU)"]
    assert "qwen2.5-7b-instruct" in fit["too big for the free memory"]
    fit = advice.fit_lines(ram_free=3 * gib, vram_free=80 * gib)
    assert len(fit["all layers on the GPU"]) == len(cat.catalogue())


def test_free_vram_is_read_from_nvidia_smi(monkeypatch, tmp_path):
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'NVIDIA H200, 140000, 143771'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    (gpu,) = advice.gpus()
    assert (gpu.name, gpu.free, gpu.total) == ("NVIDIA H200", 140000 << 20, 143771 << 20)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert advice.gpus() is None


def test_doctor_gpu_lines(monkeypatch, settings):
    from assistant import doctor

    monkeypatch.setattr(advice, "gpus", lambda: None)
    checks = {c.name: c for c in doctor._gpu_checks(settings, BUNDLED, gpu=False)}
    assert "no NVIDIA GPU found" in checks["memory"].value and "RAM" in checks["memory"].value
    assert checks["suggested n_gpu_layers"].value.startswith("0 for SmolLM2")
    assert "cannot offload" in checks["suggested n_gpu_layers"].value
    monkeypatch.setattr(advice, "gpus", lambda: [advice.GPU("Fake GPU", 8 * advice.GiB, 16 * advice.GiB)])
    assert "-DGGML_CUDA=on" in doctor._gpu_checks(settings, BUNDLED, gpu=False)[1].value  # the GPU idles: how to use it
    checks = {c.name: c for c in doctor._gpu_checks(settings, BUNDLED, gpu=True)}
    assert "GPU Fake GPU: 8.0 GiB free of 16.0 GiB" in checks["memory"].value
    assert checks["suggested n_gpu_layers"].value.startswith("-1 for") and not any(c.problem for c in checks.values())
    assert "all layers on the GPU: qwen2.5-coder-0.5b-instruct" in checks["catalogue models that fit"].value


# -- end to end: a pulled model answers ------------------------------------------------------------------------
@pytest.mark.e2e
def test_a_pulled_model_answers_a_question(loopback, seeded_dir, tmp_path, capsys):
    data = tmp_path / "index"
    shutil.copytree(seeded_dir, data)
    assert main(["models", "pull", SPEC]) == 0
    assert main(["models", "use", NAME]) == 0
    capsys.readouterr()
    rc = main(["ask", "--json", "--data-dir", str(data), "What does LIMO claim?"])
    answer = json.loads(capsys.readouterr().out)
    assert rc == 0 and answer["model"] == FILE
    assert not answer["abstained"] and "LIMO: Less is More for Reasoning" in {c["title"] for c in answer["citations"]}
    assert os.environ.get("HF_HUB_OFFLINE") is None


# -- the chat app: the model in the status bar, the tip, the picker -------------------------------------------
@pytest.mark.asyncio
async def test_chat_app_shows_the_model_the_tip_once_and_switches_models(settings, tmp_path):
    from conftest import SEEDS, FakeEmbedder, ScriptedGenerator
    from textual.command import CommandList
    from textual.widgets import Static

    from assistant.answer.session import make_pipeline
    from assistant.ingest.build import ingest
    from tui.app import PaperChatApp

    ingest(settings, FakeEmbedder(), [SEEDS])
    loads: list[str] = []

    def factory():  # a scripted generator named after the file model_path resolves to, as llama.cpp's would be
        gen = ScriptedGenerator()
        gen.name = resolve_model(settings).name
        loads.append(gen.name)
        return make_pipeline(settings, embedder=FakeEmbedder(), generator=gen)

    other = models_dir(settings) / "copied-model" / "copied.gguf"
    other.parent.mkdir(parents=True)
    shutil.copyfile(BUNDLED, other)
    app = PaperChatApp(settings, pipeline_factory=factory)
    status = lambda: app.screen.query_one("#status-text", Static).visual.plain  # noqa: E731
    async with app.run_test(size=(140, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "SmolLM2-135M-Instruct.Q4_1.gguf" in status()
        assert f"tip: a more capable model in one command: assistant models pull {cat.SUGGESTED}" in status()
        await pilot.press("ctrl+p")
        await pilot.press(*"copied")
        for _ in range(300):
            lists = app.screen.query(CommandList)
            if lists and lists.first().option_count:
                break
            await pilot.pause(0.01)
        assert "Use model: copied-model" in str(lists.first().get_option_at_index(0).prompt)
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert settings.model_path == other and loads == ["SmolLM2-135M-Instruct.Q4_1.gguf", "copied.gguf"]
        assert "copied.gguf" in status() and "tip:" not in status()
        app.switch_model(next(m for m in installed_models(settings) if m.bundled))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert settings.model_path is None and "SmolLM2" in status() and "tip:" not in status()  # once only
    assert cat.find(cat.SUGGESTED) is not None
