"""Reliability, round two: read-only commands write nothing, the data dir and config file are checked like ssh checks
its keys, unknown ASSISTANT_* variables are refused, and the global options work before the command."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import SEEDS

from assistant import config
from assistant.cli.main import build_parser, main
from assistant.config import Settings, load_settings
from assistant.errors import ConfigError


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


def one_line(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.strip()


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def no_model(monkeypatch):
    """Read-only commands must stop before a model (or its saved prompt state) is loaded."""
    fail = lambda *a, **k: pytest.fail("a model was loaded")  # noqa: E731
    monkeypatch.setattr("assistant.answer.session.make_pipeline", fail)
    monkeypatch.setattr("assistant.answer.session.make_retriever", fail)


@pytest.fixture
def indexed(data_dir, fake_embedder, monkeypatch) -> Path:
    from assistant.ingest.build import ingest

    ingest(Settings(data_dir=data_dir), fake_embedder, [SEEDS])
    return data_dir


# -- 1. read-only commands create nothing ---------------------------------------------------------------
READ_ONLY = [
    ["stats"],
    ["stats", "--json"],
    ["sources"],
    ["papers", "--json"],
    ["ask", "what are sparse adapters?"],
    ["batch", "{q}"],
    ["batch", "{q}", "-o", "{tmp}/answers.csv"],
    ["eval", "{q}"],
]


@pytest.mark.parametrize("argv", READ_ONLY, ids=lambda a: "-".join(a[:2]).replace("{", "").replace("}", ""))
def test_read_only_commands_without_an_index_exit_4_and_write_nothing(tmp_path, capsys, no_model, argv):
    q = tmp_path / "q.txt"
    q.write_text("what are sparse adapters?\n")
    missing = tmp_path / "a" / "nested" / "data"
    before = tree(tmp_path)
    args = [a.format(q=q, tmp=tmp_path) for a in argv]
    rc, out, err = cli(capsys, *args, "--data-dir", missing)
    assert rc == 4 and out == ""
    line = one_line(err)
    assert "no index yet" in line and "assistant ingest" in line
    assert tree(tmp_path) == before  # no data dir, no chroma/, no lock, no output file


def test_doctor_without_an_index_reports_it_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from assistant import doctor

    monkeypatch.setattr(doctor, "_llama_checks", lambda s: [])  # the model checks are tested in test_doctor.py
    monkeypatch.setattr(doctor, "_embedder_checks", lambda s: [])
    missing = tmp_path / "a" / "data"
    before = tree(tmp_path)
    rc, out, _ = cli(capsys, "doctor", "--data-dir", missing)
    assert rc == 1 and "problem: no index yet" in out and "fix: assistant ingest seeds/" in out
    assert tree(tmp_path) == before


def test_doctor_checks_are_returned_not_printed(tmp_path, capsys, monkeypatch):
    from assistant import doctor

    monkeypatch.setattr(doctor, "_llama_checks", lambda s: [doctor.Check("llama.cpp", "stub")])
    monkeypatch.setattr(doctor, "_embedder_checks", lambda s: [])
    checks = doctor.run_checks(Settings(data_dir=tmp_path / "none"))
    assert capsys.readouterr() == ("", "")
    assert [c.name for c in checks] == ["python", "data dir", "llama.cpp", "index"]
    assert checks[-1].problem == "no index yet" and checks[-1].fix == "assistant ingest seeds/"


def test_read_only_commands_on_an_empty_chroma_folder_create_no_store(data_dir, capsys, no_model):
    (data_dir / "chroma").mkdir(parents=True)  # left by an older version's `stats`
    for argv in (["stats"], ["sources"], ["ask", "what are sparse adapters?"]):
        rc, _, err = cli(capsys, *argv)
        assert rc == 4 and "assistant ingest" in one_line(err)
    assert tree(data_dir) == ["chroma"]


def test_ingest_still_creates_the_store(data_dir, capsys, fake_embedder, monkeypatch):
    monkeypatch.setattr("assistant.answer.session.make_embedder", lambda s: fake_embedder)
    rc, _, _ = cli(capsys, "ingest", SEEDS)
    assert rc == 0 and (data_dir / "chroma" / "chroma.sqlite3").is_file()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    rc, out, _ = cli(capsys, "stats", "--json")
    assert rc == 0 and json.loads(out)["papers"] > 0


# -- 1. the data dir is checked -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/etc", "/usr", "/var", "/bin", "/proc/self", "/sys/kernel", "/dev/shm", "//"])
def test_system_folders_are_refused_as_data_dir(capsys, path):
    root_chroma = Path("/chroma").exists()
    rc, out, err = cli(capsys, "stats", "--data-dir", path)
    assert rc == 2 and out == ""
    assert "is a system folder" in one_line(err)
    assert Path("/chroma").exists() == root_chroma  # `stats --data-dir /` used to create /chroma/chroma.sqlite3


def test_system_folder_from_the_environment_or_config(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ASSISTANT_DATA_DIR", "/etc")
    rc, _, err = cli(capsys, "stats")
    assert rc == 2 and "data_dir /etc is a system folder" in one_line(err)
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "d"))
    cfg = tmp_path / "c.toml"
    cfg.write_text('data_dir = "/usr"\n')
    monkeypatch.delenv("ASSISTANT_DATA_DIR")
    rc, _, err = cli(capsys, "stats", "--config", cfg)
    assert rc == 2 and "data_dir /usr is a system folder" in one_line(err)


def test_a_file_as_data_dir_is_a_config_error(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("oops")
    for argv in (["stats"], ["ingest", SEEDS], ["sources"]):
        rc, _, err = cli(capsys, *argv, "--data-dir", f)
        assert rc == 2 and f"data_dir {f} is a file, not a folder" in one_line(err)
    assert f.read_text() == "oops"


@pytest.mark.parametrize("mode,who", [(0o770, "its group"), (0o707, "everyone"), (0o1777, "everyone")])
def test_a_data_dir_others_can_write_is_refused(tmp_path, capsys, mode, who):
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(mode)
    rc, _, err = cli(capsys, "stats", "--data-dir", d)
    line = one_line(err)
    assert rc == 2 and f"writable by {who}" in line and f"chmod go-w {d}" in line


def test_a_data_dir_of_another_user_is_refused(tmp_path, capsys, monkeypatch):
    d = tmp_path / "theirs"
    d.mkdir(mode=0o700)
    me = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: me + 4242)  # as if someone else owned it
    rc, _, err = cli(capsys, "stats", "--data-dir", d)
    line = one_line(err)
    assert rc == 2 and "belongs to user" in line and "not to you" in line


def test_relative_xdg_homes_are_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/config")
    assert config.default_data_dir() == Path.home() / ".local" / "share" / "paper-assistant"
    assert config.default_config_file() == Path.home() / ".config" / "paper-assistant" / "config.toml"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xd"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xc"))
    assert config.default_data_dir() == tmp_path / "xd" / "paper-assistant"
    assert config.default_config_file() == tmp_path / "xc" / "paper-assistant" / "config.toml"
    monkeypatch.delenv("ASSISTANT_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", "")
    assert load_settings().data_dir == Path.home() / ".local" / "share" / "paper-assistant"


# -- 5. unknown ASSISTANT_* variables ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "var,closest",
    [("ASSISTANT_TOPK", "ASSISTANT_TOP_K"), ("ASSISTANT_DATADIR", "ASSISTANT_DATA_DIR"), ("ASSISTANT_TEMP", None)],
)
def test_unknown_environment_variables_are_refused(capsys, monkeypatch, var, closest):
    monkeypatch.setenv(var, "5")
    rc, out, err = cli(capsys, "stats")
    line = one_line(err)
    assert rc == 2 and out == "" and f"unknown environment variable {var}" in line
    if closest:
        assert f"did you mean {closest}?" in line


def test_known_environment_variables_pass(monkeypatch, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("top_k = 4\n")
    monkeypatch.setenv("ASSISTANT_CONFIG", str(cfg))  # the config file's path: not a field, still valid
    monkeypatch.setenv("assistant_temperature", "0.5")  # pydantic-settings matches case-insensitively
    monkeypatch.setenv("ASSISTANT_ABSTAIN_THRESHOLD", "0.3")
    s = load_settings()
    assert (s.top_k, s.temperature, s.abstain_threshold) == (4, 0.5, 0.3)
    config.check_environment({"ASSISTANT_CONFIG": "x", "OTHER_TOPK": "1", "ASSISTANT_N_CTX": "512"})
    with pytest.raises(ConfigError, match="ASSISTANT_NCTX: not a setting; did you mean ASSISTANT_N_CTX"):
        config.check_environment({"ASSISTANT_NCTX": "512"})


# -- 6. a config file others can write -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_a_config_file_others_can_write_is_refused(tmp_path, capsys, mode):
    cfg = tmp_path / "config.toml"
    cfg.write_text('model_path = "/tmp/evil.gguf"\n')
    cfg.chmod(mode)
    rc, out, err = cli(capsys, "stats", "--config", cfg)
    line = one_line(err)
    assert rc == 2 and out == "" and line.startswith(f"error: {cfg}: the config file is writable by")
    assert f"chmod go-w {cfg}" in line
    cfg.chmod(0o644)
    assert load_settings(cfg).model_path == Path("/tmp/evil.gguf")


def test_the_default_config_file_is_checked_too(tmp_path, monkeypatch):
    cfg = tmp_path / "config" / "paper-assistant" / "config.toml"  # XDG_CONFIG_HOME is tmp_path/config
    cfg.parent.mkdir(parents=True)
    cfg.write_text("top_k = 5\n")
    cfg.chmod(0o620)
    with pytest.raises(ConfigError, match="chmod go-w"):
        load_settings()


# -- 7. global options before or after the command ------------------------------------------------------------
def test_global_options_before_the_command(indexed, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ASSISTANT_DATA_DIR")
    for argv in (["--data-dir", indexed, "stats", "--json"], ["stats", "--json", "--data-dir", indexed]):
        rc, out, _ = cli(capsys, *argv)
        assert rc == 0 and json.loads(out)["data_dir"] == str(indexed)
    # after the command wins over before it
    rc, out, _ = cli(capsys, "--data-dir", tmp_path / "elsewhere", "stats", "--json", "--data-dir", indexed)
    assert rc == 0 and json.loads(out)["data_dir"] == str(indexed)
    rc, _, err = cli(capsys, "-q", "--data-dir", tmp_path / "none", "sources")
    assert rc == 4 and str(tmp_path / "none") in err


def test_global_options_parse_in_both_positions(tmp_path):
    p = build_parser()
    for argv in (["-v", "--debug", "-q", "--config", "c.toml", "--chroma-url", "http://h:1", "ask", "q"],
                 ["ask", "q", "-v", "--debug", "-q", "--config", "c.toml", "--chroma-url", "http://h:1"]):  # fmt: skip
        a = p.parse_args(argv)
        assert (a.verbose, a.debug, a.quiet, a.config, a.chroma_url) == (1, True, True, Path("c.toml"), "http://h:1")
    a = p.parse_args(["batch", "in.txt"])
    assert (a.verbose, a.debug, a.quiet, a.config, a.data_dir) == (0, False, False, None, None)


def test_debug_shows_the_cause_of_a_domain_error(tmp_path, capsys):
    rc = main(["--debug", "stats", "--data-dir", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert rc == 4 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: no index yet")
