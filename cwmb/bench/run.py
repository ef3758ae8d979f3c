"""The bench: start the LLM gateway, run every unfinished job of the matrix (in parallel up to
`--jobs`), finalize each job on the host, and keep manifest.json and summary.csv current.

Resume: finished jobs (score.json present) are skipped; anything else is cleared and redone from
scratch; LLM calls a redone job already made come back from the cache. A folder is never resumed
with another description tier or other method options than the ones it was started with. A job
writes only into a scratch folder of its own; the host publishes what it accepts of it (see
job_files.py). One bench at a time holds a results folder (see lock.py)."""

from __future__ import annotations

import contextlib
import json
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cwmb import __version__, registry
from cwmb.bench.config import BenchConfig
from cwmb.bench.finalize import Finalized, finalize
from cwmb.bench.job_files import JobOutputs, collect_outputs
from cwmb.bench.launch import JobLauncher, JobSpec, LaunchResult, get_launcher
from cwmb.bench.lock import FolderLock
from cwmb.bench.results import RunFolder, job_status, write_json
from cwmb.capabilities import method_capabilities
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


@contextlib.contextmanager
def _llm_session(gateway: Gateway, job_id: str, bar: tqdm) -> Iterator[None]:
    """For as long as a job runs, keep its progress bar at the number of LLM calls it has made so
    far; when it ends, so do its gateway token and socket."""
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
        gateway.end_job(job_id)


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
            "isolation": {
                "jobs": launcher.name,
                "job_confinement": launcher.confinement,
                "final_scoring": executor.name,
            },
            # Access beyond the description, interface and train split, as each method declares it.
            "capabilities": {
                method: sorted(method_capabilities(method))
                for method in config.methods
                if method_capabilities(method)
            },
            "model": config.model,
            "model_base_url": config.model_base_url,
            "sampling": asdict(config.sampling),
            "preset": get_preset(config.preset).to_dict(),
            "planning_episodes": config.episodes,
            "seeds": list(range(config.seeds)),
            "budget": config.budget,
            "job_timeout_s": config.job_timeout_s,
            "output_quota_bytes": config.output_quota_bytes,
            "methods": config.methods,
            "envs": config.envs,
            "quick": config.quick,
            "descriptions": config.descriptions,
            "method_options": {m: o.values for m, o in config.options.items()},
            "method_options_changed": config.changed_options(),
            "cache_mode": config.cache,
            "notes": config.notes,
        }
    )
    write_json(folder.manifest_path, manifest)


def _started_with(folder: RunFolder) -> dict[str, Any] | None:
    """The manifest of a run already started in `folder` (None for a new folder)."""
    if not folder.manifest_path.is_file():
        return None
    try:
        manifest = json.loads(folder.manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise CwmbError(f"cannot read {folder.manifest_path}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise CwmbError(f"{folder.manifest_path} is not a JSON object")
    return manifest


def check_same_settings(folder: RunFolder, config: BenchConfig) -> None:
    """Refuse to resume a folder started with another description tier (runs from before tiers
    existed used the standard one) or other method options (before options: the defaults)."""
    manifest = _started_with(folder)
    if manifest is None:
        return
    started = manifest.get("descriptions", registry.DEFAULT_DESCRIPTION_TIER)
    if started != config.descriptions:
        raise CwmbError(
            f"{folder.root} holds a run with {started} descriptions; it cannot be resumed with "
            f"--descriptions {config.descriptions} (choose another --run-id)"
        )
    options = manifest.get("method_options_changed") or {}
    if options != json_ready(config.changed_options()):
        raise CwmbError(
            f"{folder.root} holds a run with other method options ({options or 'the defaults'});"
            " it cannot be resumed with these (choose another --run-id)"
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
        check_same_settings(self.folder, self.config)  # a refused resume touches nothing
        self.folder.root.mkdir(parents=True, exist_ok=True)
        with FolderLock(self.folder.root):
            self.folder.clear_scratch()
            return self._run()

    def _run(self) -> RunFolder:
        config = self.config
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
            with Gateway(
                spec,
                cache=cache,
                log_path=self.folder.root / "gateway.jsonl",
                sampling=config.sampling,
            ) as gateway:
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
        options = self.config.options.get(method)
        spec = registry.get(env_id)
        capabilities = method_capabilities(method)
        description_path = spec.description_file(self.config.descriptions)
        out_dir = self.folder.prepare_job(method, env_id, seed)
        scratch = self.folder.new_scratch()
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
        try:
            with _llm_session(gateway, job_id, status):
                launched = launcher.run(
                    JobSpec(
                        method=method,
                        env=env_id,
                        seed=seed,
                        budget=self.config.budget,
                        out_dir=scratch,
                        train_path=spec.split_path("train"),
                        descriptions=self.config.descriptions,
                        description_path=description_path,
                        job_env=lambda socket: gateway.job_environment(
                            token, socket_path_in_job=socket
                        ),
                        socket_dir=gateway.socket_dir(job_id),
                        timeout_s=self.config.job_timeout_s,
                        methods_dir=methods_dir(),
                        output_quota_bytes=self.config.output_quota_bytes,
                        capabilities=capabilities,
                        method_args=tuple(options.arguments()) if options else (),
                    )
                )
            job_s = time.perf_counter() - started
            outputs = collect_outputs(scratch, out_dir, method, env_id, seed)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        job_info = outputs.info or {}
        status.set_description_str(f"  {job_id}: scoring and planning")
        try:
            result = finalize(
                spec,
                outputs.program,
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
        error = self._job_error(launched, outputs) or result.error
        job_ran = (
            launched.exit_code == 0 and not outputs.problems and job_info.get("status") == "ok"
        )
        score = {
            "method": method,
            "env": env_id,
            "kind": spec.kind,
            "seed": seed,
            "capabilities": sorted(capabilities),
            "descriptions": self.config.descriptions,
            "description_sha256": sha256_file(description_path),
            "method_options": {} if options is None else options.values,
            "method_options_changed": {} if options is None else options.changed,
            "status": job_status(job_ran, result.loaded, bool(result.splits)),
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
            "job": job_info,  # the job's own account, for reference only
            "output_notes": outputs.notes,
        }
        write_json(out_dir / "score.json", json_ready(score))
        with self._lock:
            self.folder.write_summary()

    def _job_error(self, launched: LaunchResult, outputs: JobOutputs) -> str | None:
        """Why the job failed, from what the host saw first: its stop, its files, its exit."""
        if launched.stopped == "time limit":
            return f"the job exceeded its time limit of {self.config.job_timeout_s:g} s"
        if launched.stopped is not None:
            quota_mb = self.config.output_quota_bytes / 2**20
            return f"the job was stopped: output over quota ({quota_mb:g} MB or too many files)"
        if outputs.problems:
            return "; ".join(outputs.problems)
        if outputs.info and outputs.info.get("error"):
            return str(outputs.info["error"])
        if launched.exit_code != 0:
            tail = launched.output_tail.strip()[-1500:]
            return f"the job exited with status {launched.exit_code}: {tail}"
        if outputs.info is None:
            return "the job wrote no job.json"
        return None
