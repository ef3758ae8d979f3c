"""`cwmb plan` (return of a planner using a program, the true env, or random actions) and
`cwmb baselines` (random and oracle returns stored in env.toml)."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from cwmb import envtoml, registry
from cwmb.collect import versions
from cwmb.commands._common import (
    add_env_option,
    add_isolation_option,
    add_program_argument,
    fmt,
    print_json,
    program_source,
)
from cwmb.errors import CwmbError
from cwmb.evaluation import open_program
from cwmb.planning.episodes import (
    EpisodeResults,
    OraclePolicy,
    ProgramPolicy,
    RandomPolicy,
    run_episodes,
    spec_normalized_return,
)
from cwmb.planning.presets import DEFAULT_PRESET, PRESETS, Preset, get_preset
from cwmb.registry import EnvSpec
from cwmb.sandbox.select import get_executor


def _progress(label: str):
    def report(done: int, value: float) -> None:
        print(f"  {label}: episode {done} return {value:.2f}", file=sys.stderr, flush=True)

    return report


def evaluate_policy(
    spec: EnvSpec,
    which: str,
    preset: Preset,
    episodes: int | None,
    source: str | None = None,
    isolation: str = "auto",
) -> EpisodeResults:
    if which == "random":
        return run_episodes(
            spec, RandomPolicy(spec), "random", preset, episodes, _progress("random")
        )
    if which == "oracle":
        return run_episodes(
            spec, OraclePolicy(spec, preset), "oracle", preset, episodes, _progress("oracle")
        )
    assert source is not None
    executor = get_executor(isolation)
    with open_program(executor, spec, source) as session:
        return run_episodes(
            spec, ProgramPolicy(spec, preset, session), which, preset, episodes, _progress(which)
        )


def plan(args: argparse.Namespace) -> int:
    spec = registry.get(args.env)
    preset = get_preset(args.preset)
    chosen = [flag for flag in ("random", "oracle") if getattr(args, flag)]
    if len(chosen) + (args.program is not None) + args.reference != 1:
        raise CwmbError("give exactly one of PROGRAM.py, --reference, --random or --oracle")
    if chosen:
        results = evaluate_policy(spec, chosen[0], preset, args.episodes)
    else:
        label, source = program_source(args, spec)
        results = evaluate_policy(spec, label, preset, args.episodes, source, args.isolation)
    random_mean = spec.baseline(preset.name, "random")
    oracle_mean = spec.baseline(preset.name, "oracle")
    normalized = spec_normalized_return(spec, preset.name, results.mean)
    if args.json:
        print_json(
            {
                "env": spec.id,
                **results.to_dict(),
                "normalized_return": normalized,
                "baselines": {"random": random_mean, "oracle": oracle_mean},
            }
        )
        return 0
    print(
        f"{spec.id}  policy {results.policy}  preset {preset.name}: return {results.mean:.2f} ± "
        f"{results.std:.2f} over {len(results.returns)} episodes; normalized {fmt(normalized)} "
        f"(random {fmt(random_mean, 1)}, oracle {fmt(oracle_mean, 1)}); "
        f"{sum(results.seconds):.1f} s"
    )
    return 0


def baselines(args: argparse.Namespace) -> int:
    env_ids = registry.env_ids() if args.envs == ["all"] else args.envs
    specs = [registry.get(env_id) for env_id in env_ids]
    presets = list(PRESETS) if args.preset == "all" else [args.preset]
    for spec in specs:
        for name in presets:
            preset = get_preset(name)
            entry: dict = {}
            for which in ("random", "oracle"):
                result = evaluate_policy(spec, which, preset, args.episodes)
                entry[which] = {
                    "mean": round(result.mean, 6),
                    "std": round(result.std, 6),
                    "returns": [round(r, 6) for r in result.returns],
                    "seconds_per_episode": round(sum(result.seconds) / len(result.seconds), 3),
                }
                print(
                    f"{spec.id} [{name}] {which}: {result.mean:.2f} ± {result.std:.2f} "
                    f"({entry[which]['seconds_per_episode']} s/episode)"
                )
            entry["provenance"] = {
                "command": f"cwmb baselines {spec.id} --preset {name}"
                + (f" --episodes {args.episodes}" if args.episodes else ""),
                "seeds": result.seeds,
                "episodes": len(result.seeds),
                # the oracle plans with one seed per planning call (see planning.episodes)
                "evaluation": "common random numbers",
                "versions": versions(),
                "settings": preset.to_dict(),
                "date": date.today().isoformat(),
            }
            envtoml.update_tables(spec.toml_path, {("baselines", name): entry})
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan", help="return of the planner using a program (or baselines)"
    )
    add_program_argument(parser)
    parser.add_argument("--random", action="store_true", help="random actions")
    parser.add_argument("--oracle", action="store_true", help="the planner on the true environment")
    add_env_option(parser)
    parser.add_argument(
        "--preset", default=DEFAULT_PRESET, help=f"planner preset: {', '.join(PRESETS)}"
    )
    parser.add_argument("--episodes", type=int, help="number of episodes (default: the preset's)")
    add_isolation_option(parser)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=plan)
    parser = subparsers.add_parser(
        "baselines", help="compute random and oracle returns into env.toml"
    )
    parser.add_argument("envs", nargs="+", metavar="ENV", help="environment ids, or `all`")
    parser.add_argument("--preset", default=DEFAULT_PRESET, help=f"{', '.join(PRESETS)} or all")
    parser.add_argument("--episodes", type=int, help="number of episodes (default: the preset's)")
    parser.set_defaults(handler=baselines)
