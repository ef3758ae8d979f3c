"""The bench: start the LLM gateway, run every unfinished job of the matrix (in parallel up to
`--jobs`), finalize each job on the host, and keep manifest.json and summary.csv current.

Resume: finished jobs (score.json present) are skipped; anything else is cleared and redone from
scratch; LLM calls a redone job already made come back from the cache. A folder is never resumed
with another description tier than the one it was started with."""

from __future__ import annotations

import contextlib
import json
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cwmb import __version__, registry
from cwmb.bench.config import BenchConfig
from cwmb.bench.finalize import Finalized, finalize
from cwmb.bench.launch import JobLauncher, JobSpec, get_launcher
from cwmb.bench.results import RunFolder, job_status, write_json
from cwmb.collect import versions
from cwmb.dataset import sha256_file
from cwmb.errors import CwmbError
from cwmb.llm.cache import CacheMode, LlmCache
from cwmb.llm.gateway import Gateway
from cwmb.llm.models import select_model
from cwmb.planning.presets import get_preset
from cwmb.runner import methods_dir
from cwmb.sandbox.base import Executor
from cwmb.sandbox.select import get_executor
from cwmb.trace import json_ready

JOB_TIMEOUT_S = 4 * 3600


@contextlib.contextmanager
def _poll_llm_calls(gateway: Gateway, job_id: str, bar: tqdm) -> Iterator[None]:
    """Keep a job's progress bar at the number of LLM calls it has made so far."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(1.0):
            used = int(gateway.usage().get(job_id, {}).get("used", 0) or 0)
            if used != bar.n:
                bar.update(used - bar.n)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def count_episodes(bar: tqdm, job_id: str, done: int, total: int) -> None:
    """Turn a job's bar into a count of planning episodes (it counted LLM calls until now)."""
    if bar.unit != "episode":
        bar.reset(total=total)
        bar.unit = "episode"
        bar.set_description_str(f"  {job_id}: planning episodes")
    bar.update(done - bar.n)


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=registry.PROJECT_ROOT,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


def write_manifest(
    folder: RunFolder,
    config: BenchConfig,
    launcher: JobLauncher,
    executor: Executor,
    image: str | None,
) -> None:
    manifest: dict[str, Any] = {}
    if folder.manifest_path.is_file():
        manifest = json.loads(folder.manifest_path.read_text())
    manifest.update(
        {
            "run_id": folder.root.name,
            "created": manifest.get("created") or datetime.now(UTC).isoformat(timespec="seconds"),
            "cwmb_version": __version__,
            "git_commit": git_commit(),
            "versions": versions() | {"platform": platform.platform()},
            "image_digest": image,
            "isolation": {"jobs": launcher.name, "final_scoring": executor.name},
            "model": config.model,
            "model_base_url": config.model_base_url,
            "preset": get_preset(config.preset).to_dict(),
            "planning_episodes": config.episodes,
            "seeds": list(range(config.seeds)),
            "budget": config.budget,
            "methods": config.methods,
            "envs": config.envs,
            "quick": config.quick,
            "descriptions": config.descriptions,
            "cache_mode": config.cache,
            "notes": config.notes,
        }
    )
    write_json(folder.manifest_path, manifest)


def check_same_tier(folder: RunFolder, config: BenchConfig) -> None:
    """Refuse to resume a folder started with another description tier (runs from before tiers
    existed used the standard one)."""
    if not folder.manifest_path.is_file():
        return
    try:
        started = json.loads(folder.manifest_path.read_text()).get(
            "descriptions", registry.DEFAULT_DESCRIPTION_TIER
        )
    except (OSError, ValueError, AttributeError) as exc:
        raise CwmbError(f"cannot read {folder.manifest_path}: {exc}") from exc
    if started != config.descriptions:
        raise CwmbError(
            f"{folder.root} holds a run with {started} descriptions; it cannot be resumed with "
            f"--descriptions {config.descriptions} (choose another --run-id)"
        )


class Bench:
    def __init__(self, config: BenchConfig, out: Path, run_id: str | None = None):
        self.config = config
        self.folder = RunFolder(out / (run_id or config.run_id()))
        self.preset = get_preset(config.preset)
        self._lock = threading.Lock()

    def pending(self) -> list[tuple[str, str, int]]:
        return [
            job
            for job in self.config.matrix()
            if self.folder.needs_run(*job, self.config.retry_failed)
        ]

    def run(self) -> RunFolder:
        config = self.config
        check_same_tier(self.folder, config)
        self.folder.root.mkdir(parents=True, exist_ok=True)
        launcher = get_launcher(config.isolation)
        executor = get_executor(config.isolation, quiet=True)
        if launcher.name != "docker":
            print(f"cwmb: WARNING: {launcher.note}", file=sys.stderr)
        todo = self.pending()
        if todo or not self.folder.manifest_path.is_file():  # a finished run is left untouched
            write_manifest(
                self.folder, config, launcher, executor, getattr(launcher, "image_id", None)
            )
        total = len(config.matrix())
        print(
            f"cwmb bench: run {self.folder.root} — {total - len(todo)} of {total} jobs already done, "
            f"{len(todo)} to run (model {config.model}, budget {config.budget}, preset {config.preset}, "
            f"{config.descriptions} descriptions)",
            file=sys.stderr,
        )
        if todo:
            spec = select_model(config.model, config.model_base_url)
            cache = LlmCache(mode=CacheMode.parse(config.cache))
            with Gateway(spec, cache=cache, log_path=self.folder.root / "gateway.jsonl") as gateway:
                if gateway.socket_path is not None:
                    gateway.socket_path.parent.chmod(0o755)  # reachable from job containers
                bar = tqdm(
                    total=total, initial=total - len(todo), desc="jobs", unit="job", position=0
                )
                with ThreadPoolExecutor(max_workers=max(1, config.jobs)) as pool:
                    futures = [
                        pool.submit(self._job, gateway, launcher, executor, job, i + 1)
                        for i, job in enumerate(todo)
                    ]
                    for future in futures:
                        future.result()
                        bar.update(1)
                bar.close()
        self.folder.write_summary()
        return self.folder

    def _job(
        self,
        gateway: Gateway,
        launcher: JobLauncher,
        executor: Executor,
        job: tuple[str, str, int],
        position: int,
    ) -> None:
        method, env_id, seed = job
        spec = registry.get(env_id)
        description_path = spec.description_file(self.config.descriptions)
        out_dir = self.folder.prepare_job(method, env_id, seed)
        job_id = f"{method}/{env_id}/seed{seed}"
        token = gateway.add_job(job_id, self.config.budget)
        status = tqdm(
            total=self.config.budget,
            desc=f"  {job_id}: LLM calls",
            unit="call",
            position=1 + (position - 1) % max(1, self.config.jobs),
            leave=False,
        )
        started = time.perf_counter()
        with _poll_llm_calls(gateway, job_id, status):
            launched = launcher.run(
                JobSpec(
                    method=method,
                    env=env_id,
                    seed=seed,
                    budget=self.config.budget,
                    out_dir=out_dir,
                    train_path=spec.split_path("train"),
                    descriptions=self.config.descriptions,
                    description_path=description_path,
                    job_env=lambda socket: gateway.job_environment(
                        token, socket_path_in_job=socket
                    ),
                    socket_dir=None if gateway.socket_path is None else gateway.socket_path.parent,
                    timeout_s=JOB_TIMEOUT_S,
                    methods_dir=methods_dir(),
                )
            )
        job_s = time.perf_counter() - started
        job_info = self._job_info(out_dir)
        program_path = out_dir / "program.py"
        program = (
            program_path.read_text(encoding="utf-8", errors="replace")
            if program_path.is_file()
            else ""
        )
        status.set_description_str(f"  {job_id}: scoring and planning")
        try:
            result = finalize(
                spec,
                program,
                executor,
                self.preset,
                self.config.episodes,
                progress=lambda phase: status.set_description_str(f"  {job_id}: {phase}"),
                planning_limit_s=self.config.planning_limit_s,
                on_episode=lambda done, total: count_episodes(status, job_id, done, total),
            )
        except CwmbError as exc:  # e.g. a damaged dataset: this job fails, the bench goes on
            result = Finalized({}, None, 0.0, 0.0, f"final scoring failed: {exc}")
        status.close()
        usage = gateway.usage().get(job_id, {})
        llm_s = sum(r.latency_ms for r in list(gateway.calls) if r.job == job_id) / 1000
        error = self._job_error(launched.exit_code, launched.output_tail, job_info) or result.error
        score = {
            "method": method,
            "env": env_id,
            "kind": spec.kind,
            "seed": seed,
            "descriptions": self.config.descriptions,
            "description_sha256": sha256_file(description_path),
            "status": job_status(
                launched.exit_code == 0 and job_info.get("status") == "ok",
                result.loaded,
                bool(result.splits),
            ),
            "error": error,
            "budget": self.config.budget,
            "llm_calls": usage.get("calls", 0),
            "cache_hits": usage.get("cache_hits", 0),
            "tokens_in": usage.get("prompt_tokens", 0),
            "tokens_out": usage.get("completion_tokens", 0),
            "splits": result.splits,
            "planning": result.planning,
            "timings": {
                "job_s": round(job_s, 3),
                "llm_s": round(llm_s, 3),
                "scoring_s": round(result.scoring_s, 3),
                "planning_s": round(result.planning_s, 3),
            },
            "job": job_info,
        }
        write_json(out_dir / "score.json", json_ready(score))
        with self._lock:
            self.folder.write_summary()

    @staticmethod
    def _job_info(out_dir: Path) -> dict[str, Any]:
        try:
            return dict(json.loads((out_dir / "job.json").read_text()))
        except (OSError, json.JSONDecodeError):
            return {}

    @staticmethod
    def _job_error(exit_code: int | None, tail: str, info: dict[str, Any]) -> str | None:
        if exit_code is None:
            return f"the job exceeded its time limit of {JOB_TIMEOUT_S} s"
        if info.get("error"):
            return str(info["error"])
        if exit_code != 0:
            return f"the job exited with status {exit_code}: {tail.strip()[-1500:]}"
        return None
