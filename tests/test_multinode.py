"""Multi-node DDP on one machine: 2 "nodes" x 1 process on the loopback address (gloo), each started as its own
``python -m lit_gans fit`` with the environment a multi-node launch gives (``MASTER_ADDR``, ``MASTER_PORT``,
``NODE_RANK``, ``WORLD_SIZE``), as docs/cluster.md describes for clusters without SLURM."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_one_process_each(tmp_path):
    ckpt_dir, probe = tmp_path / "checkpoints", tmp_path / "probe"
    # the callbacks list replaces the YAML's: one checkpoint (last.ckpt) in a known folder, and the rank probe
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"trainer": {"callbacks": [
        {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
         "init_args": {"dirpath": str(ckpt_dir), "save_last": True, "save_top_k": 0}},
        {"class_path": "tests.ddp_probe.RankProbe", "init_args": {"out_dir": str(probe)}},
    ]}}))
    cmd = [
        sys.executable, "-m", "lit_gans", "fit", "--config", str(ROOT / "experiments" / "dcgan_digits.yaml"),
        "--config", str(override), "--trainer.accelerator=cpu", "--trainer.num_nodes=2", "--trainer.devices=1",
        "--trainer.strategy=ddp", "--trainer.max_epochs=1", "--trainer.limit_train_batches=4",
        "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0", "--trainer.enable_progress_bar=false",
        "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path / 'run'}", "--model.init_args.metrics=null",
        "--model.init_args.generator.init_args.ngf=8", "--model.init_args.discriminator.init_args.ndf=8",
        "--data.init_args.batch_size=16",
    ]
    port = free_port()
    procs = []
    for node in (0, 1):
        cwd = tmp_path / f"node{node}"  # each "node" has its own working directory
        cwd.mkdir()
        env = dict(
            os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), NODE_RANK=str(node), WORLD_SIZE="2",
            WANDB_MODE="offline", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1",
        )
        for key in [k for k in env if k.startswith(("SLURM_", "TORCHELASTIC_", "LOCAL_RANK", "GROUP_RANK"))]:
            del env[key]  # Lightning must take the plain multi-node environment, not a scheduler's
        procs.append(subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outs = [p.communicate(timeout=600)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for node, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"node {node}:\n{out[-4000:]}"
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in outs[0] and "GLOBAL_RANK: 1, MEMBER: 2/2" in outs[1]

    r0, r1 = (torch.load(probe / f"rank{r}.pt") for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["g_iter"] == r1["g_iter"] == 4
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), f"{name} differs between the nodes"
    assert not torch.equal(r0["noise"], r1["noise"]), "both nodes draw the same noise"
    # one checkpoint, written once (by global rank 0), nothing in the nodes' working directories
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["last.ckpt"]
    ckpt = torch.load(ckpt_dir / "last.ckpt", weights_only=False)
    assert ckpt["lit_gans"]["g_iter"] == 4
    for node in (0, 1):
        assert not list((tmp_path / f"node{node}").rglob("*.ckpt"))
