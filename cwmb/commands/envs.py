"""`cwmb envs` and `cwmb show ENV`."""

from __future__ import annotations

import argparse

from cwmb import registry
from cwmb.commands._common import add_descriptions_option, fmt, print_json
from cwmb.planning.presets import DEFAULT_PRESET


def _summary(spec: registry.EnvSpec) -> dict:
    return {
        "id": spec.id,
        "gym_id": spec.gym_id,
        "kind": spec.kind,
        "planner": spec.planner,
        "max_episode_steps": spec.max_episode_steps,
        "transitions": {split: entry.get("transitions") for split, entry in spec.datasets.items()},
        "baselines": {
            preset: {k: v.get("mean") for k, v in entry.items() if k in ("random", "oracle")}
            for preset, entry in spec.baselines.items()
        },
    }


def list_envs(args: argparse.Namespace) -> int:
    specs = registry.all_specs()
    if args.json:
        print_json([_summary(spec) for spec in specs])
        return 0
    print(
        f"{'environment':<27} {'actions':<10} {'planner':<7} {'train':>6} {'heldout':>7} "
        f"{'random':>9} {'oracle':>9}   ({DEFAULT_PRESET} preset)"
    )
    for spec in specs:
        counts = [spec.datasets.get(s, {}).get("transitions") for s in ("train", "heldout")]
        print(
            f"{spec.id:<27} {spec.kind:<10} {spec.planner:<7} "
            f"{counts[0] if counts[0] is not None else '-':>6} {counts[1] if counts[1] is not None else '-':>7} "
            f"{fmt(spec.baseline(DEFAULT_PRESET, 'random'), 1):>9} {fmt(spec.baseline(DEFAULT_PRESET, 'oracle'), 1):>9}"
        )
    return 0


def show(args: argparse.Namespace) -> int:
    spec = registry.get(args.env)
    if args.json:
        data = _summary(spec) | {
            "observation": spec.observation.to_dict(),
            "action": spec.action.to_dict(),
            "gym_kwargs": spec.gym_kwargs,
            "notes": spec.notes,
            "descriptions": args.descriptions,
            "description": spec.description(args.descriptions),
        }
        print_json(data)
        return 0
    print(
        f"# {spec.id}  (gymnasium {spec.gym_id}, {spec.kind} actions, {spec.planner} planner, "
        f"episodes up to {spec.max_episode_steps} steps; {args.descriptions} description)\n"
    )
    print(spec.description(args.descriptions))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("envs", help="list environments")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=list_envs)
    parser = subparsers.add_parser("show", help="an environment's spec and description")
    parser.add_argument("env", metavar="ENV")
    add_descriptions_option(parser)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=show)
