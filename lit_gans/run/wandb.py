"""The W&B run of an experiment run: offline without a key or network (never a prompt), named after the
experiment, grouped by experiment (``group``) and typed by subcommand (``job_type``); a resumed fit continues
its run (the id is kept in ``RunTracker``'s checkpoint state; older checkpoints: ``checkpoint["lit_gans"]``)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

from lit_gans.run._lightning import finish_wandb_run


def _wandb_has_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or ""
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return host in netrc.read_text()
    except OSError:
        return False


def _wandb_reachable(timeout: float = 3.0) -> bool:
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def configure_wandb_mode(save_dir: str = ".") -> Optional[str]:
    """Set ``WANDB_MODE=offline`` when there is no key or no network (unless the user set a mode).

    Returns the notice printed, if any.
    """
    if os.environ.get("WANDB_MODE"):
        return None
    reason = "no API key (set WANDB_API_KEY or run `wandb login`)" if not _wandb_has_key() else (
        "W&B server unreachable" if not _wandb_reachable() else None
    )
    if reason is None:
        return None
    os.environ["WANDB_MODE"] = "offline"
    notice = f"lit_gans: W&B offline ({reason}); sync later with `wandb sync {save_dir}/wandb/offline-run-*`"
    print(notice, file=sys.stderr)
    return notice


def configure_wandb_logger(logger: Any, stage: str, experiment: str, folder: Path, model_name: str,
                           resume_id: Optional[str]) -> Optional[str]:
    """Fill a WandbLogger's config (``class_path`` / ``init_args`` / ``dict_kwargs``): folder, name, group, job
    type and tags; a fit that resumes ``resume_id`` continues that run. Returns the id resumed, if any."""
    args = logger.init_args
    if args.get("save_dir") in (None, ".", ""):
        args.save_dir = str(folder)
    if not args.get("name"):
        args.name = experiment if stage == "fit" else f"{experiment}-{stage}"
    extra = dict(logger.get("dict_kwargs") or {})
    extra.setdefault("group", experiment)
    extra.setdefault("job_type", stage)
    extra.setdefault("tags", [t for t in (experiment, model_name) if t])
    resumed = None
    if stage == "fit" and resume_id and not args.get("id"):
        args.id = resumed = resume_id
        extra.setdefault("resume", "allow")
    logger.dict_kwargs = extra
    configure_wandb_mode(str(args.save_dir))
    return resumed


def wandb_loggers(trainer: Any) -> list:
    from lightning.pytorch.loggers import WandbLogger

    return [lg for lg in getattr(trainer, "loggers", None) or [] if isinstance(lg, WandbLogger)]


def wandb_run_id(trainer: Any) -> Optional[str]:
    """The W&B run id of this trainer's first WandbLogger (None without one)."""
    for logger in wandb_loggers(trainer):
        run_id = logger.version
        return str(run_id) if run_id else None
    return None


def finish_wandb(trainer: Any, exit_code: int = 0) -> None:
    """One subcommand = one W&B run: close it so a later run in the same process starts its own (also when the
    subcommand failed: ``exit_code`` != 0 marks the run failed)."""
    for logger in wandb_loggers(trainer):
        finish_wandb_run(logger, exit_code)
