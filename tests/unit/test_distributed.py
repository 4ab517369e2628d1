"""Training under torchrun (edgepose.distributed, edgepose.train): 2 gloo processes on CPU against 1 process.

The runs go through `python -m torch.distributed.run` in subprocesses (tests/distributed_worker.py, and the real
`edgepose prune` command), on tiny data (tests/coco_files.py) and tiny nets (tests/fixtures/user_model.py).

Why the 2-process weights match the 1-process ones only up to float rounding, and how closely: with the same
global batch, both runs see the same items with the same augmentation (edgepose.data.sharding) and compute the
same mean gradient, but in another order: two half-batch backward passes averaged by the gloo all-reduce
instead of one backward pass summing over the whole batch. float32 summation order changes the last bits
(~6e-8 relative per operation), and AdamW divides each update by sqrt(v) + eps, so a gradient element near zero
can turn such a bit into a visible update difference. Measured on these runs: at most ~6e-6 of the weights'
change from their initial values (5.6e-8 absolute on a ~1e-2 change), ~5e-5 with fake quantization (a last-bit
difference can move a weight across a rounding step). The tests allow 1e-4 (1e-3 for QAT) of that change:
20x above what rounding gives, and far below what a real mistake gives (a rank reading the wrong share, a
missing all-reduce or a per-process learning-rate schedule changes the weights by a sizeable fraction of the
change itself). The nets have no BatchNorm, because BatchNorm normalises over each process's share of the
batch (its statistics then differ from the whole batch's; torch's SyncBatchNorm, --sync-bn, runs on GPUs
only): for the BatchNorm net the prune test checks what must still hold (same structure, rank 0's weights
written, the same score as scoring the file alone). Ranks hold identical weights (DDP), and a resumed run on
the same world size matches the uninterrupted one bit for bit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from edgepose import distributed as dist
from edgepose.errors import UserError
from tests.coco_files import write_coco

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests" / "distributed_worker.py"
PROBE = ROOT / "tests" / "distributed_probe.py"  # `edgepose ARGS`, recording which ranks time or evaluate
FACTORY = ROOT / "tests" / "fixtures" / "user_model.py"
TIMEOUT_S = 600
REL = 1e-4  # of each tensor's change from its initial value (module doc)
REL_QAT = 1e-3


def launch(nproc: int, args: list[str], cwd: Path, **env_vars: str) -> subprocess.CompletedProcess[str]:
    """`python ARGS` alone (nproc 0: not launched by torchrun) or under torchrun with `nproc` processes."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **env_vars)
    runner = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc else []
    return subprocess.run([sys.executable, *runner, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)  # fmt: skip


class Runs:
    """Worker runs made once per module and shared by the tests that compare them."""

    def __init__(self, root: Path):
        self.root = root
        self.data = write_coco(root / "data", n_images=8)  # 13 people: 3 global batches of 4 per epoch
        self.done: dict[str, Path] = {}

    def worker(self, name: str, nproc: int, *extra: str, folder: str | None = None, ok: bool = True) -> Path:
        """Run the worker into root/FOLDER (default NAME) unless done; the folder."""
        if name in self.done:
            return self.done[name]
        out = self.root / (folder or name)
        out.mkdir(exist_ok=True)
        proc = launch(nproc, [str(WORKER), "--data", str(self.data), "--out", str(out), *extra], self.root)
        assert (proc.returncode == 0) == ok, f"{name}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        self.done[name] = out
        return out

    def result(self, name: str, rank: int = 0) -> dict[str, Any]:
        return torch.load(self.done[name] / f"result-rank{rank}.pt", weights_only=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(tmp_path_factory.mktemp("ddp"))


def assert_same_training(reference: dict[str, Any], other: dict[str, Any], rel: float) -> None:
    """Every float tensor within `rel` of its training-induced change (which must be > 0); the rest equal."""
    for key, ref in reference["state_dict"].items():
        value, start = other["state_dict"][key], reference["init"][key]
        if not ref.is_floating_point():
            assert torch.equal(ref, value), key
            continue
        change = (ref - start).abs().max().item()
        assert change > 0, f"{key} did not train"
        assert (ref - value).abs().max().item() <= rel * change, f"{key}: {(ref - value).abs().max().item():.3g} vs change {change:.3g}"
    losses = [r["loss"] for r in reference["log"]], [r["loss"] for r in other["log"]]
    assert len(losses[0]) == len(losses[1]) == 3
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


def assert_ranks_agree(runs: Runs, name: str) -> None:
    zero, one = runs.result(name, 0), runs.result(name, 1)
    assert zero["world_size"] == one["world_size"] == 2
    for key, value in zero["state_dict"].items():
        assert torch.equal(value, one["state_dict"][key]), key
    assert [r["loss"] for r in zero["log"]] == [r["loss"] for r in one["log"]]


@pytest.mark.slow
def test_two_processes_give_the_weights_and_loss_curve_of_one_with_the_same_global_batch(runs: Runs) -> None:
    runs.worker("one", 0)
    runs.worker("two", 2)
    assert runs.result("one")["world_size"] == 1
    assert_ranks_agree(runs, "two")
    assert_same_training(runs.result("one"), runs.result("two"), REL)


@pytest.mark.slow
def test_an_interrupted_two_process_run_resumes_to_the_uninterrupted_weights(runs: Runs) -> None:
    runs.worker("two", 2)
    out = runs.worker("interrupted", 2, "--stop-after", "1", ok=False)  # stopped after epoch 1, as Ctrl-C would
    state = out / "model.pt.state.pt"
    assert state.is_file() and not list(out.glob("result-*.pt"))
    assert torch.load(state, weights_only=True)["epoch"] == 1
    shutil.copy(state, runs.root / "state-after-epoch-1.pt")  # for the other world size below
    runs.worker("resumed", 2, folder="interrupted")
    assert not state.exists()  # removed once training completed
    assert_ranks_agree(runs, "resumed")
    done, resumed = runs.result("two"), runs.result("resumed")
    for key, value in done["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key  # same world size: bit for bit
    assert [r["loss"] for r in resumed["log"]] == [r["loss"] for r in done["log"]]


@pytest.mark.slow
def test_a_two_process_run_resumes_on_one_process(runs: Runs) -> None:
    if "resumed" not in runs.done:
        test_an_interrupted_two_process_run_resumes_to_the_uninterrupted_weights(runs)
    folder = runs.root / "resumed-on-one"
    folder.mkdir()
    shutil.copy(runs.root / "state-after-epoch-1.pt", folder / "model.pt.state.pt")  # written by 2 processes
    runs.worker("resumed-on-one", 0)
    resumed, two = runs.result("resumed-on-one"), runs.result("two")
    assert resumed["world_size"] == 1
    assert resumed["log"][0] == two["log"][0]  # epoch 1 came from the state file
    assert_same_training(two, resumed, REL)


@pytest.mark.slow
def test_qat_under_two_processes_trains_the_same_fake_quant_ranges_on_every_rank(runs: Runs) -> None:
    """NNCF's ranges are parameters learnt by gradient: DDP keeps them equal and matching one process."""
    runs.worker("qat-one", 0, "--qat")
    runs.worker("qat-two", 2, "--qat")
    assert_ranks_agree(runs, "qat-two")
    one = runs.result("qat-one")
    scales = [k for k in one["state_dict"] if k.endswith(".scale")]
    assert len(scales) >= 4  # weights and activations of the 4 convs
    assert_same_training(one, runs.result("qat-two"), REL_QAT)  # includes: every scale moved from calibration


@pytest.mark.slow
@pytest.mark.parametrize("net", ["build_plain", "build"])
def test_prune_under_torchrun_writes_what_one_process_writes(net: str, runs: Runs) -> None:
    """`torchrun -m edgepose prune ... --finetune-data` completes, prints one report, and its output loads, has the
    single-process structure and scores like the file alone; without BatchNorm it also has the single-process
    command's weights (with BatchNorm they differ: each process normalises over its half of the batch)."""
    from edgepose.checkpoint import save_checkpoint
    from edgepose.loading import LoadOptions, load_artifact
    from edgepose.measure import evaluate_artifact
    from edgepose.passes import RunContext, apply_pass

    options = LoadOptions(model_factory=f"{FACTORY}:{net}", input_size="64x48", schema="coco17")
    torch.manual_seed(0)
    original = load_artifact(None, options)
    model = save_checkpoint(original, runs.root / f"{net}.pt")
    outputs, reports = {}, {}
    # With BatchNorm: --val, to check that validation (start, each epoch) runs on rank 0 alone; it may not be the
    # --eval file, so a copy stands in for held-out data. Without: no --val (and 8 pictures, too few to hold some
    # back), so the last epoch is kept: a tiny random model's validation AP ties at 0 and would keep the start.
    val = runs.data.with_name("val.json")
    if not val.exists():
        shutil.copyfile(runs.data, val)
    validation = ["--val", str(val)] if net == "build" else []
    evaluations = 5 if net == "build" else 2  # start + 2 epochs + before / after; or before / after only
    for nproc in (2, 0) if net == "build_plain" else (2,):
        out, probe = runs.root / f"{net}-pruned-{nproc}.pt", runs.root / f"{net}-probe-{nproc}.txt"
        proc = launch(nproc, [
            str(PROBE), "prune", str(model), "--model-factory", f"{FACTORY}:{net}", "-o", str(out),
            "--ratio", "0.3", "--finetune-data", str(runs.data), "--epochs", "2", "--max-steps", "2",
            "--batch-size", "4", "--lr", "0.02", "--eval", str(runs.data), *validation, "--runtime",
            "none", "--threads", "1", "--json",  # lr: 50 warm-up steps scale the first two steps' rate by 1/50, 2/50
        ], runs.root, EDGEPOSE_PROBE=str(probe))  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        if nproc == 2:  # every evaluation on rank 0 alone
            assert probe.read_text().split("\n")[:-1] == ["0 evaluate"] * evaluations
        reports[nproc] = json.loads(proc.stdout)  # exactly one JSON document: rank 0's
        outputs[nproc] = load_artifact(out, LoadOptions(model_factory=f"{FACTORY}:{net}"))
    alone = apply_pass(original, "prune", {"ratio": 0.3}, RunContext(work_dir=runs.root / f"{net}-work")).model
    shapes = [tuple(v.shape) for v in alone.state_dict().values()]  # type: ignore[union-attr]
    two = outputs[2].model.state_dict()  # type: ignore[union-attr]
    assert [tuple(v.shape) for v in two.values()] == shapes and reports[2]["params_ratio"] < 1  # pruned alike
    assert reports[2]["finetune"][0]["epochs"] == 2 and len(reports[2]["finetune"]) == 1
    scored = evaluate_artifact(outputs[2], runs.data, runtime="torch", threads=1)["metrics"]
    assert reports[2]["eval_after"]["pck@0.2"] == pytest.approx(scored["pck@0.2"], abs=1e-9)
    if net == "build_plain":
        one = outputs[0].model.state_dict()  # type: ignore[union-attr]
        assert reports[0]["eval_after"] == pytest.approx(reports[2]["eval_after"], abs=1e-6)
        start = alone.state_dict()  # type: ignore[union-attr]  # pruned (deterministically), not fine-tuned
        for key, value in one.items():
            change = (value - start[key]).abs().max().item()
            assert change > 0 and (value - two[key]).abs().max().item() <= REL * change, key


OPTIMIZE_RECIPE = """
schema_version: 1
name: tiny-ddp
target: cpu-onnxruntime
passes:
  - pass: prune
    ratio: 0.3
    finetune: {epochs: 1, max_steps_per_epoch: 2, batch_size: 4, distill: 0.5}
  - pass: quantize
    backend: onnxruntime
    calib_images: 4
benchmark: {threads: 1, iters: 6, warmup: 1}
gates: {max_metric_drop: 100.0, min_speedup: 0.01, max_parity_error: 0.25}
"""


@pytest.mark.slow
def test_optimize_under_torchrun_trains_on_every_rank_and_reports_once(runs: Runs) -> None:
    """The prune step's fine-tune runs on 2 processes; the baseline, measurements, PTQ, export and report on rank 0."""
    from edgepose.checkpoint import save_checkpoint
    from edgepose.loading import LoadOptions, load_artifact

    factory = f"{FACTORY}:build_plain"
    torch.manual_seed(0)
    model = save_checkpoint(load_artifact(None, LoadOptions(model_factory=factory, input_size="64x48",
                                                            schema="coco17")), runs.root / "opt.pt")  # fmt: skip
    recipe = runs.root / "tiny-ddp.yaml"
    recipe.write_text(OPTIMIZE_RECIPE)
    out, probe = runs.root / "opt-run", runs.root / "opt-probe.txt"
    proc = launch(2, [str(PROBE), "optimize", str(model), "--model-factory", factory, "--recipe", str(recipe),
                      "--data", str(runs.data), "--set", f"data.train={runs.data}", "--out", str(out), "--json"],
                  runs.root, EDGEPOSE_PROBE=str(probe))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)  # one document, from rank 0
    assert [stage["pass"] for stage in report["stages"]] == ["prune", "quantize"]
    assert report["stages"][0]["records"]["finetune"]["epochs"] == 1
    assert (out / "final" / "model.onnx").is_file() and (out / "report.json").is_file()
    assert not list(out.rglob("*.state.pt")) and not list(out.rglob("edgepose-rank*"))
    seen = probe.read_text().split("\n")[:-1]  # "RANK what" per timed run or evaluation, from every process
    assert {line.split()[0] for line in seen} == {"0"}  # rank 1 never timed nor evaluated anything
    assert {line.split()[1] for line in seen} == {"timed_run", "evaluate"}


# --- the helpers alone (no process group): single-process behaviour, batches, refusals ---


def test_helpers_are_single_process_no_ops_without_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    dist.setup()
    assert not dist.launched() and not dist.active()
    assert (dist.rank(), dist.world_size(), dist.is_main(), dist.device()) == (0, 1, True, "cpu")
    assert dist.on_rank_zero(lambda: 7) == 7 and dist.broadcast_object("x") == "x" and dist.all_reduce_mean(2.5) == 2.5
    with dist.rank_zero_only() as main:
        assert main
    net = torch.nn.Linear(2, 2)
    assert dist.wrap_model(net) is net


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(UserError, match="--dist-backend 'mpi'"):
        dist.setup("mpi")


class _Items(torch.utils.data.Dataset):
    """Item i: (i, a random draw from torch's RNG), like the datasets' augmentation draws."""

    def __len__(self) -> int:
        return 11

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([float(index), torch.rand(()).item()])


def test_every_world_size_reads_the_same_global_batches_with_the_same_augmentation() -> None:
    from edgepose.data.sharding import sharded_loader, steps_per_epoch

    steps = steps_per_epoch(11, 4)
    assert steps == 2
    per_epoch = []
    for epoch in (0, 1):
        batches = {}
        for world in (1, 2, 4):
            loaders = [sharded_loader(_Items(), 4, r, world, seed=5) for r in range(world)]
            for loader in loaders:
                loader.sampler.set_epoch(epoch)
            shards = [list(loader)[:steps] for loader in loaders]
            batches[world] = [torch.cat([shard[k] for shard in shards]) for k in range(steps)]
        for world in (2, 4):
            for k in range(steps):
                order = batches[world][k][:, 0].argsort()
                expect = batches[1][k][batches[1][k][:, 0].argsort()]
                assert torch.equal(batches[world][k][order], expect)  # same items, same random draws
        per_epoch.append(batches[1])
    assert not torch.equal(per_epoch[0][0], per_epoch[1][0])  # set_epoch reshuffles and redraws


def test_a_global_batch_that_does_not_split_evenly_is_refused() -> None:
    from edgepose.data.sharding import sharded_loader

    with pytest.raises(UserError, match="does not split evenly over 2 processes"):
        sharded_loader(_Items(), 5, 0, 2, seed=0)


def test_sync_bn_swaps_batchnorm_for_the_block_and_is_refused_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch import nn

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm1d(4)))
    bn, bn1d = net[1], net[2][0]
    monkeypatch.setattr(dist, "active", lambda: True)
    with pytest.raises(UserError, match="--sync-bn needs CUDA"), dist.sync_batchnorm(net, True):
        pass
    monkeypatch.setitem(dist._STATE, "device", "cuda:0")  # the swap itself needs no GPU
    with dist.sync_batchnorm(net, True):
        assert isinstance(net[1], nn.SyncBatchNorm) and isinstance(net[2][0], nn.SyncBatchNorm)
        assert net[1].weight is bn.weight and net[1].running_mean is bn.running_mean  # shared, trained in place
    assert net[1] is bn and net[2][0] is bn1d  # the original layers (and classes) are back
