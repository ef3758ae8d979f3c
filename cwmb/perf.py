"""`make perf`: the project's performance figures, each measured side by side in one run.

Each area contributes a module with `run() -> dict` that prints its own numbers; this module runs
them in turn and prints a summary. Areas whose optional dependencies are missing say so."""

from __future__ import annotations

import importlib
import json
import sys
import time

AREAS = [
    ("planning", "cwmb.perf_planning"),
    ("sandbox", "cwmb.perf_sandbox"),
    ("cem", "cwmb.perf_cem"),
    ("llm", "cwmb.perf_llm"),
]


def main(argv: list[str] | None = None) -> int:
    wanted = set(argv if argv is not None else sys.argv[1:]) or {name for name, _ in AREAS}
    summary: dict[str, object] = {}
    for name, module_name in AREAS:
        if name not in wanted:
            continue
        print(f"\n## {name}", flush=True)
        start = time.perf_counter()
        module = importlib.import_module(module_name)
        summary[name] = module.run()
        print(f"({name}: {time.perf_counter() - start:.1f} s)", flush=True)
    print("\n## summary (JSON)")
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
