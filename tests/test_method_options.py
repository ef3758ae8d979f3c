"""Method options: read from a method's source without importing it, `KEY=VALUE` parsed against
them with one clear error per mistake, and carried into the run id."""

from __future__ import annotations

import pytest
from methods_helpers import methods_folder

from cwmb import method_options as mo
from cwmb import runner
from cwmb.bench.config import BenchConfig
from cwmb.bench.results import RunFolder, write_json
from cwmb.bench.run import check_same_settings
from cwmb.errors import CwmbError

# A method whose import leaves a mark, with options of every kind.
LOUD_WITH_OPTIONS = """
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Path(__file__).with_name("imported-on-host").write_text("x")


@dataclass(frozen=True)
class Options:
    depth: int = 3  # how deep to go
    rate: float = 1  # an int literal is a fine float default
    greedy: bool = False
    mode: Literal["fast", "slow"] = "fast"
    label: str = "x"


def run(task):
    return ""
"""


@pytest.fixture()
def methods(tmp_path, monkeypatch):
    files = {"loud.py": LOUD_WITH_OPTIONS, "plain.py": "def run(task):\n    return ''\n"}
    return methods_folder(tmp_path / "methods", monkeypatch, files)


def _shape(specs):
    return [(s.name, s.type, s.default, s.choices) for s in specs]


def test_declarations_are_read_from_the_source_without_importing(methods):
    readable, specs = mo.declared_options("loud")
    assert readable and not (methods / "imported-on-host").exists()
    assert _shape(specs) == [
        ("depth", "int", 3, None),
        ("rate", "float", 1.0, None),
        ("greedy", "bool", False, None),
        ("mode", "str", "fast", ("fast", "slow")),
        ("label", "str", "x", None),
    ]
    assert specs[0].help == "how deep to go"
    assert mo.declared_options("plain") == (True, None)


@pytest.mark.parametrize("method", ["gif-mcts", "worldcoder"])
def test_the_source_reading_agrees_with_the_class_the_job_imports(method):
    import importlib

    module = importlib.import_module(f"runners.{runner.module_name(method)}")
    _, from_source = mo.declared_options(method)
    assert from_source and _shape(from_source) == _shape(mo.options_of_class(module.Options))
    assert all(spec.help for spec in from_source), "every option says what it does"


def test_values_are_parsed_by_type(methods):
    _, specs = mo.declared_options("loud")
    given = {"depth": "5", "rate": "0.25", "greedy": "yes", "mode": "slow"}
    values = mo.resolve("loud", specs, given)
    assert values == {"depth": 5, "rate": 0.25, "greedy": True, "mode": "slow", "label": "x"}
    assert mo.changed(specs, values) == {"depth": 5, "rate": 0.25, "greedy": True, "mode": "slow"}
    for text, expected in (("true", True), ("1", True), ("No", False), ("0", False)):
        assert mo.resolve("loud", specs, {"greedy": text})["greedy"] is expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"depht": "2"}, r"method 'loud' has no option depht; its options: depth=3 \(int\)"),
        ({"depth": "two"}, r"option depth takes an int \(int\), got 'two'"),
        ({"rate": "fast"}, r"option rate takes a float \(float\), got 'fast'"),
        ({"greedy": "maybe"}, r"option greedy takes true/false \(bool\), got 'maybe'"),
        ({"mode": "medium"}, r"option mode is one of fast, slow, got 'medium'"),
    ],
)
def test_bad_options_are_one_clear_error(methods, given, message):
    _, specs = mo.declared_options("loud")
    with pytest.raises(CwmbError, match=message):
        mo.resolve("loud", specs, given)


def test_options_for_a_method_that_declares_none_are_an_error(methods):
    with pytest.raises(CwmbError, match="method 'plain' declares no options, but got depth"):
        mo.for_methods(["plain"], ["depth=2"])
    assert mo.for_methods(["plain"], [])["plain"].values == {}


def test_malformed_assignments_are_an_error():
    with pytest.raises(CwmbError, match="--method-arg takes KEY=VALUE, got 'depth'"):
        mo.parse_assignments(["depth"])
    assert mo.parse_assignments(["a=1", "b=x=y", "a=2"]) == {"a": "2", "b": "x=y"}


def test_with_several_methods_a_key_goes_to_each_method_that_declares_it(methods):
    options = mo.for_methods(["loud", "plain", "gif-mcts"], ["depth=4", "max_fixes=0"])
    assert options["loud"].changed == {"depth": 4}
    assert options["plain"].values == {}
    assert options["gif-mcts"].changed == {"max_fixes": 0}
    assert options["gif-mcts"].arguments() == ["max_fixes=0"]
    with pytest.raises(CwmbError, match="no method of this run has option nope"):
        mo.for_methods(["loud", "gif-mcts"], ["nope=1"])
    assert not (methods / "imported-on-host").exists()


def test_declarations_the_host_cannot_read_are_named():
    source = "class Options:\n    x: list = []\n"
    with pytest.raises(CwmbError, match=r"m.py: option x: type list is not one of"):
        mo.options_of_source(source, "m.py")
    with pytest.raises(CwmbError, match="default must be a literal"):
        mo.options_of_source("class Options:\n    x: int = 1 + f()\n", "m.py")
    with pytest.raises(CwmbError, match="the default 'a' is not a valid int"):
        mo.options_of_source("class Options:\n    x: int = 'a'\n", "m.py")


def _config(options: dict[str, mo.MethodOptions]) -> BenchConfig:
    return BenchConfig(
        methods=["gif-mcts"], envs=["CartPole-v1"], seeds=1, budget=3, model="local/gemma-3-270m",
        model_base_url=None, preset="default", episodes=None, isolation="process", cache="rw",
        jobs=1, quick=False, options=options,
    )  # fmt: skip


def test_only_non_default_options_change_the_run_id():
    before = _config({}).run_id()  # a run made before options existed
    assert _config(mo.for_methods(["gif-mcts"], [])).run_id() == before
    assert _config(mo.for_methods(["gif-mcts"], ["allow_generate=true"])).run_id() == before
    ablated = _config(mo.for_methods(["gif-mcts"], ["max_fixes=0"])).run_id()
    assert ablated != before and "-max_fixes=0-" in ablated
    other = _config(mo.for_methods(["gif-mcts"], ["max_fixes=1"])).run_id()
    assert other not in (before, ablated)


def test_the_job_rejects_options_its_method_class_refuses():
    import runners.gif_mcts as gif_mcts

    values = mo.resolve(
        "gif-mcts",
        mo.options_of_class(gif_mcts.Options),
        {"allow_generate": "false", "allow_improve": "false"},
    )
    with pytest.raises(CwmbError, match="at least one of allow_generate and allow_improve"):
        mo.instantiate("gif-mcts", gif_mcts.Options, values)
    assert mo.instantiate("null", None, {}) is None


def test_a_run_is_not_resumed_with_other_options(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.root.mkdir()
    write_json(folder.manifest_path, {"method_options_changed": {"gif-mcts": {"max_fixes": 0}}})
    check_same_settings(folder, _config(mo.for_methods(["gif-mcts"], ["max_fixes=0"])))
    with pytest.raises(CwmbError, match="holds a run with other method options"):
        check_same_settings(folder, _config(mo.for_methods(["gif-mcts"], [])))


def test_entry_point_methods_get_their_keys_unchecked_and_the_job_checks_them(monkeypatch):
    import importlib.metadata

    point = importlib.metadata.EntryPoint(
        name="external-wc", value="runners.worldcoder:run", group=runner.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(runner, "_entry_points", lambda: {point.name: point})
    # The host cannot read another distribution's source: the keys go to the job as given.
    options = mo.for_methods(["external-wc"], ["selection=sequential", "nope=1"])
    assert not options["external-wc"].checked
    assert options["external-wc"].arguments() == ["nope=1", "selection=sequential"]
    # The job loads the entry point's module, finds its Options and checks them there.
    loaded = runner.load_method("external-wc")
    specs = mo.options_of_class(loaded.options_class)
    assert (
        mo.resolve("external-wc", specs, {"selection": "sequential"})["selection"] == "sequential"
    )
    with pytest.raises(CwmbError, match="has no option nope"):
        mo.resolve("external-wc", specs, {"nope": "1"})
