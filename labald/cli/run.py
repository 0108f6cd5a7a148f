"""labald's Hydra entry point, `labald run` (or `python run.py` in a checkout): one run, or a sweep with `-m`.

    labald run method=ss dataset=commodity
    labald run -m method=ss,la_bald dataset=digits seed=0,1

Bad input (unknown group option or key, out-of-range value, unreadable file) prints one line to
stderr and exits with status 2 before anything is written; LABALD_DEBUG=1 shows the traceback.
This is the only module that sees Hydra; the package gets plain typed settings.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import itertools
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from labald.config import check_key, settings_from_config
from labald.errors import LabaldError
from labald.runner import run_experiment
from labald.threads import available_cores, threads_per_job


def config_dir() -> Path:
    """Where the Hydra configs are: inside an installed package (labald/configs, copied from the checkout's
    configs/ by pyproject.toml's package-dir), else the checkout's configs/ beside the package (a plain
    checkout, or an editable install, whose package is the checkout's)."""
    installed = importlib.resources.files("labald") / "configs"
    if isinstance(installed, Path) and (installed / "config.yaml").is_file():
        return installed
    checkout = Path(__file__).resolve().parents[2] / "configs"
    if not (checkout / "config.yaml").is_file():
        raise LabaldError(f"labald's configs are missing (neither {installed} nor {checkout}); reinstall labald")
    return checkout


CONFIG_DIR = config_dir()
# `labald run` or `python run.py`, as the help's usage line and examples name the command (configs/config.yaml)
COMMAND_ENV = "LABALD_COMMAND"
MAX_PRECHECKED_JOBS = 2000
# Failed sweep jobs are recorded in a file named by this variable, so that jobs run in other
# processes (hydra/launcher=joblib, submitit) are counted too; with the identity of the stderr the
# sweep was started on, so a job whose stderr went elsewhere (submitit's log files) has its message
# repeated at the end.
FAILURES_ENV = "LABALD_FAILED_JOBS"
LOG_EVERY = 10  # steps between progress lines outside a terminal (logs, pipes, sweep jobs)
STDERR_ENV = "LABALD_SWEEP_STDERR"


def _settings(cfg: DictConfig):
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("hydra", None)
    return settings_from_config(container), bool(container.get("resume", True))


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        settings, resume = _settings(cfg)
        if settings.threads is None and multirun:
            settings = dataclasses.replace(settings, threads=_sweep_job_threads(HydraConfig.get().launcher))
        _configure_logging()  # a sweep job in another process (joblib, submitit) logs its lines too
        terminal = sys.stderr.isatty() and not multirun
        run_experiment(settings, resume=resume, progress=terminal, log_every=0 if terminal else LOG_EVERY)
    except LabaldError as e:
        if not multirun:
            _fail(e)
        _record_failure(f"job {HydraConfig.get().job.override_dirname} failed: {e}")
    except Exception as e:  # a sweep keeps going; the other jobs' results stay intact
        if not multirun or os.environ.get("LABALD_DEBUG"):
            raise
        _record_failure(f"job {HydraConfig.get().job.override_dirname} failed: {type(e).__name__}: {e}")


def _sweep_job_threads(launcher: DictConfig) -> int:
    """A sweep job's share of the cores: submitit gives each job `cpus_per_task`; joblib runs `n_jobs`
    at once (negative: cores + 1 + n_jobs, joblib's rule); Hydra's basic launcher runs one job at a time."""
    target = str(launcher.get("_target_", ""))
    if "submitit" in target:
        return int(launcher.get("cpus_per_task") or 1)
    if "joblib" in target:
        n_jobs = int(launcher.get("n_jobs") or 1)
        return threads_per_job(max(1, available_cores() + 1 + n_jobs) if n_jobs < 0 else n_jobs)
    return threads_per_job(1)


def _record_failure(message: str) -> None:
    print(f"labald: error: {message}", file=sys.stderr)
    path = os.environ.get(FAILURES_ENV)
    if path:
        shown = os.environ.get(STDERR_ENV) == _stderr_identity()
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{'shown' if shown else 'hidden'}\t{message}\n")


def _stderr_identity() -> str:
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return "unknown"
    return f"{st.st_dev}:{st.st_ino}"


def precheck(args: list[str]) -> int:
    """Compose and validate every job of the command line before Hydra starts any; returns the count."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    overrides = [a for a in args if not a.startswith("-") and not a.startswith("hydra")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as e:
        raise LabaldError(f"cannot parse the command line: {_first_line(e)}") from None
    for o in parsed:
        group = CONFIG_DIR / o.key_or_group
        if not group.is_dir():
            check_key(o.key_or_group)  # with or without `+`: a misspelt key never runs another experiment
        elif not o.is_sweep_override():
            _check_option(o.key_or_group, str(o.value()))
    choices = []
    for o in parsed:
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        for v in values:
            if (CONFIG_DIR / o.key_or_group).is_dir():
                _check_option(o.key_or_group, v)
        choices.append([f"{o.get_key_element()}={v}" for v in values])
    jobs = list(itertools.islice(itertools.product(*choices), MAX_PRECHECKED_JOBS))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for job in jobs:
            try:
                cfg = compose(config_name="config", overrides=list(job))
            except (HydraException, OmegaConfBaseException) as e:
                raise LabaldError(_composition_error(e)) from None
            try:
                _settings(cfg)
            except OmegaConfBaseException as e:
                raise LabaldError(f"bad config value: {_first_line(e)}") from None
    return len(jobs)


def _check_option(group: str, value: str) -> None:
    options = sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))
    if value not in options:
        close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
        hint = f"did you mean {group}={close[0]}? " if close else ""
        raise LabaldError(f"{group}={value} is unknown; {hint}choose one of: {', '.join(options)}")


def _composition_error(e: Exception) -> str:
    """Hydra's composition error as one line a user can act on."""
    match = re.search(r"Could not (?:override|append to config) '([^']+)'", str(e))
    if match:
        return (f"{match.group(1)} is not a config key of the chosen group option (for example "
                "learner.* with learner=none, or stopping.annotations_per_image without stopping=budget)")
    return f"{_first_line(e)}; check the spelling against configs/"


def _first_line(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def _fail(e: BaseException) -> None:
    if os.environ.get("LABALD_DEBUG"):
        raise e
    print(f"labald: error: {e}", file=sys.stderr)
    sys.exit(2)


def _configure_logging() -> None:
    """labald's log lines on stderr, `[labald] ...`; once per process."""
    logger = logging.getLogger("labald")
    logger.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not logger.handlers:
        logging.basicConfig(level=logging.INFO, format="[labald] %(message)s", stream=sys.stderr)


def main(args: list[str] | None = None, prog: str | None = None) -> None:
    """`python run.py ARGS` (by default sys.argv) or `labald run ARGS` (labald.cli.main passes args and prog):
    Hydra reads `prog` as its argv[0], and the help's usage line and examples name the command."""
    args = sys.argv[1:] if args is None else list(args)
    prog = prog or sys.argv[0] or "labald run"
    # Hydra's argparse stops taking overrides after a flag; accept `-m` anywhere on the line.
    flags = [a for a in args if a in ("-m", "--multirun")]
    args = flags + [a for a in args if a not in flags]
    saved = sys.argv, os.environ.get(COMMAND_ENV)
    sys.argv = [prog, *args]
    os.environ[COMMAND_ENV] = "python run.py" if Path(prog).name == "run.py" else prog
    try:
        _main(args)
    finally:
        sys.argv = saved[0]
        if saved[1] is None:
            os.environ.pop(COMMAND_ENV, None)
        else:
            os.environ[COMMAND_ENV] = saved[1]


def _main(args: list[str]) -> None:
    _configure_logging()
    if not any(a in ("-h", "--help", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion", "-sc")
               or a.startswith("--info") for a in args):
        try:
            precheck(args)
        except LabaldError as e:
            _fail(e)
    with tempfile.TemporaryDirectory() as tmp:
        failures = Path(tmp) / "failed_jobs.txt"
        os.environ[FAILURES_ENV] = str(failures)
        os.environ[STDERR_ENV] = _stderr_identity()
        try:
            hydra_main()
        finally:
            os.environ.pop(FAILURES_ENV, None)
            os.environ.pop(STDERR_ENV, None)
        failed = [line.split("\t", 1) for line in failures.read_text().splitlines()] if failures.exists() else []
    for shown, message in failed:
        if shown != "shown":  # printed where the user does not look (a submitit job's log)
            print(f"labald: error: {message}", file=sys.stderr)
    if failed:
        print(f"labald: error: {len(failed)} job(s) failed; see the messages above", file=sys.stderr)
        sys.exit(2)
