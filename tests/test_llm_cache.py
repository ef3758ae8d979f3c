"""The record/replay cache: keys, occurrence order, modes, concurrent writers, export/import."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cwmb.errors import CwmbError
from cwmb.llm.cache import CacheMode, LlmCache, default_cache_dir, request_key
from cwmb.llm.errors import ReplayMiss
from cwmb.llm.wire import Choice, Reply


def req(content: str = "hi", **params: object) -> dict:
    return {"model": "openai/m", "messages": [{"role": "user", "content": content}], **params}


def reply(text: str) -> Reply:
    return Reply("m", (Choice(text),), 3, 4)


def test_key_covers_model_messages_and_sampling_but_not_transport_fields() -> None:
    base = request_key(req(temperature=1.0))
    assert request_key(req(temperature=1.0, stream=False, user="u")) == base
    assert request_key({**req(temperature=1.0), "model": "openai/other"}) != base
    assert request_key(req("other", temperature=1.0)) != base
    assert request_key(req(temperature=0.5)) != base
    assert request_key(req(temperature=1.0, top_k=100)) != base


def test_default_location_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CWMB_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CWMB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_cache_dir() == tmp_path / "xdg" / "cwmb"


def test_identical_requests_replay_in_recorded_order(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with LlmCache(path) as cache:
        for i in range(3):
            slot = cache.slot(req(), scope="job")
            assert cache.lookup(slot) is None
            cache.store(slot, reply(f"sample {i}"))
    with LlmCache(path, CacheMode.REPLAY) as cache:
        got = [cache.lookup(cache.slot(req(), scope="job")) for _ in range(3)]
        assert [r.choices[0].content for r in got if r] == ["sample 0", "sample 1", "sample 2"]
        assert got[0] is not None and got[0].prompt_tokens == 3
        with pytest.raises(ReplayMiss, match="job 'job'.*occurrence 3"):
            cache.lookup(cache.slot(req(), scope="job"))


def test_occurrences_are_counted_per_job(tmp_path: Path) -> None:
    with LlmCache(tmp_path / "c.sqlite") as cache:
        a = cache.slot(req(), scope="a")
        b = cache.slot(req(), scope="b")
        assert (a.occurrence, b.occurrence) == (0, 0)
        cache.store(a, reply("for a"))
        cache.store(b, reply("for b"))
        assert cache.lookup(a) == reply("for a")


def test_replay_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CwmbError, match="no LLM cache at"):
        LlmCache(tmp_path / "none.sqlite", CacheMode.REPLAY)


def test_off_mode_neither_reads_nor_writes(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with LlmCache(path, CacheMode.OFF) as cache:
        slot = cache.slot(req())
        assert cache.lookup(slot) is None
        assert cache.store(slot, reply("x")) == reply("x")
    assert not path.exists()


def test_first_writer_wins_and_both_see_the_stored_answer(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with LlmCache(path) as one, LlmCache(path) as two:
        s1, s2 = one.slot(req()), two.slot(req())
        assert one.store(s1, reply("first")) == reply("first")
        assert two.store(s2, reply("second")) == reply("first")


WRITER = r"""
import json, sys
from cwmb.llm.cache import LlmCache
from cwmb.llm.wire import Choice, Reply
path, name = sys.argv[1], sys.argv[2]
cache = LlmCache(path)
for i in range(40):
    slot = cache.slot({"model": "openai/m", "messages": [{"role": "user", "content": f"{name} {i}"}]})
    cache.store(slot, Reply("m", (Choice(f"{name} answer {i}"),)))
contested = cache.slot({"model": "openai/m", "messages": [{"role": "user", "content": "same"}]})
got = cache.store(contested, Reply("m", (Choice(f"contested by {name}"),)))
print(json.dumps(got.choices[0].content))
"""


def test_concurrent_writer_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"w{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outputs.append(json.loads(out))
    # Everyone got the one stored answer for the contested slot, whoever wrote it.
    assert len(set(outputs)) == 1 and outputs[0].startswith("contested by w")
    with LlmCache(path, CacheMode.REPLAY) as cache:
        stats = cache.stats()
        assert stats["answers"] == 4 * 40 + 1
        slot = cache.slot({"model": "openai/m", "messages": [{"role": "user", "content": "w2 7"}]})
        assert cache.lookup(slot) == Reply("m", (Choice("w2 answer 7"),))


def test_export_import_roundtrip_and_conflicts(tmp_path: Path) -> None:
    src = tmp_path / "a.sqlite"
    with LlmCache(src) as cache:
        for i in range(3):
            cache.store(cache.slot(req(), scope="job"), reply(f"s{i}"))
        cache.store(cache.slot(req("other")), reply("o"))
        buf = io.StringIO()
        assert cache.export_jsonl(buf) == 4
        only_job = io.StringIO()
        assert cache.export_jsonl(only_job, scope="job") == 3
    lines = buf.getvalue().splitlines()
    with LlmCache(tmp_path / "b.sqlite") as dst:
        result = dst.import_jsonl(lines)
        assert (result.added, result.already_present, result.conflicts) == (4, 0, 0)
        again = dst.import_jsonl(lines)
        assert (again.added, again.already_present) == (0, 4)
    with LlmCache(tmp_path / "b.sqlite", CacheMode.REPLAY) as replay:
        got = [replay.lookup(replay.slot(req(), scope="job")) for _ in range(3)]
        assert [g.choices[0].content for g in got if g] == ["s0", "s1", "s2"]
    # A different answer for a slot already held locally is a conflict; the local one stays.
    changed = [json.loads(line) for line in lines]
    changed[0]["reply"]["choices"][0]["content"] = "tampered"
    with LlmCache(tmp_path / "b.sqlite") as dst:
        result = dst.import_jsonl([json.dumps(r) for r in changed])
        assert result.conflicts == 1


def test_import_rejects_records_whose_key_does_not_match(tmp_path: Path) -> None:
    with LlmCache(tmp_path / "a.sqlite") as cache:
        cache.store(cache.slot(req()), reply("x"))
        buf = io.StringIO()
        cache.export_jsonl(buf)
    record = json.loads(buf.getvalue())
    record["request"]["messages"][0]["content"] = "edited"
    with LlmCache(tmp_path / "b.sqlite") as dst, pytest.raises(CwmbError, match="line 1: the key"):
        dst.import_jsonl([json.dumps(record)])
    with LlmCache(tmp_path / "b.sqlite") as dst, pytest.raises(CwmbError, match="line 2: not JSON"):
        dst.import_jsonl(["", "{oops"])


def test_a_file_that_is_not_a_cache_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "llm-cache.sqlite"
    bad.write_text("not a database at all, just text" * 100)
    with pytest.raises(CwmbError, match="cannot open the LLM cache"):
        LlmCache(bad)
    with pytest.raises(CwmbError, match="cannot open the LLM cache"):
        LlmCache(bad, CacheMode.REPLAY)
