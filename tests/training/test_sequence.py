"""Long-context training: TBPTT chunks carry the state and stop gradients; evaluation on the windowed issue times."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.errors import UserError
from social_xlstm.training.module import ForecastModule
from social_xlstm.training.sequence import (
    EvalStream,
    TBPTTConfig,
    detach_state,
    optimizer_steps_per_batch,
    tbptt_step,
)

SMALL = dict(d_model=16, encoder={"heads": 2, "layers": 1}, social={"heads": 2}, dropout=0.0)
W, H, L_SEQ = 6, 3, 24


@pytest.fixture(scope="module")
def dm(tiny_dataset):
    return TrafficDataModule(
        str(tiny_dataset),
        window=W,
        horizon=H,
        batch_size=4,
        eval_batch_size=16,
        mode="sequence",
        sequence_length=L_SEQ,
        stride=24,
    )


@pytest.fixture(scope="module")
def window_dm(tiny_dataset):
    return TrafficDataModule(str(tiny_dataset), window=W, horizon=H, batch_size=4, eval_batch_size=16)


def _module(dm, seed=0, **kwargs) -> ForecastModule:
    torch.manual_seed(seed)
    return ForecastModule(**SMALL, tbptt={"chunk": 8, **kwargs}, data_info=dm.info())


def _trainer(tmp_path, **kwargs) -> L.Trainer:
    return L.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
        **kwargs,
    )


def _double(batch):
    return {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}


def test_chunked_forward_with_carried_state_equals_one_forward(dm):
    net = _module(dm).net.double().eval()
    batch = _double(next(iter(dm.train_dataloader())))
    x, m, t = batch["x"], batch["x_mask"], batch["time"]
    with torch.no_grad():
        whole, whole_state = net.forward_sequence(x, m, t)
        parts, state = [], None
        for lo, hi in ((0, 5), (5, 6), (6, 13), (13, L_SEQ)):  # uneven chunks, one of a single step
            y, state = net.forward_sequence(x[:, lo:hi], m[:, lo:hi], t[:, lo:hi], state)
            parts.append(y)
    torch.testing.assert_close(torch.cat(parts, 1), whole, rtol=1e-10, atol=1e-10)
    assert state.keys() == whole_state.keys()
    for key in state:
        torch.testing.assert_close(state[key], whole_state[key], rtol=1e-10, atol=1e-10)


def test_gradients_stop_at_chunk_boundaries(dm):
    net = _module(dm).net.double()
    batch = _double(next(iter(dm.train_dataloader())))
    for detach in (True, False):
        x = batch["x"].clone().requires_grad_(True)
        _, state = net.forward_sequence(x[:, :8], batch["x_mask"][:, :8], batch["time"][:, :8])
        state = detach_state(state) if detach else state
        y, _ = net.forward_sequence(x[:, 8:16], batch["x_mask"][:, 8:16], batch["time"][:, 8:16], state)
        y.square().sum().backward()
        first = x.grad[:, :8].abs().sum().item()
        assert x.grad[:, 8:16].abs().sum() > 0
        if detach:  # the second chunk's loss reaches no input of the first chunk
            assert first == 0.0
        else:  # control: without the detach the state carries gradient back
            assert first > 0.0


def test_eval_stream_runs_continuously_through_the_windows(dm):
    module = _module(dm).double().eval()
    batches = [_double(b) for b in dm.test_dataloader()]
    assert len(batches) > 2  # the state must cross batch boundaries
    with torch.no_grad():
        streamed = torch.cat([module(b) for b in batches])  # (S, H, N, O)
        t0 = torch.cat([b["t0"] for b in batches])
        first = batches[0]
        # reference: one forward_sequence over the panel steps from the first window's start to the last issue
        x = torch.cat([first["x"][0], torch.cat([b["x"][:, -1] for b in batches])[1:]])
        m = torch.cat([first["x_mask"][0], torch.cat([b["x_mask"][:, -1] for b in batches])[1:]])
        t = torch.cat([first["time"][0], torch.cat([b["time"][:, -1] for b in batches])[1:]])
        y, _ = module.net.forward_sequence(x[None], m[None], t[None])
        reference = y[0, W - 1 :].float() * module.target_std + module.target_mean
        windowed_first = module.net(first["x"][:1], first["x_mask"][:1], first["time"][:1])
    assert torch.equal(t0, torch.arange(int(t0[0]), int(t0[0]) + len(t0)))
    torch.testing.assert_close(streamed, reference, rtol=1e-10, atol=1e-8)
    # the first issue time has read exactly the windowed context: the windowed forecast
    torch.testing.assert_close(streamed[0], windowed_first[0].float() * module.target_std + module.target_mean)


def test_eval_stream_restarts_on_a_gap():
    calls = []

    class Recorder(torch.nn.Module):
        def forward_sequence(self, x, x_mask, time, state=None):
            calls.append((x.shape[1], state is None))
            return torch.zeros(1, x.shape[1], 2, 3, 1), {"s": torch.zeros(1)}

    stream = EvalStream()
    batch = {
        "x": torch.zeros(4, 5, 3, 2),
        "x_mask": torch.ones(4, 5, 3, 2, dtype=torch.bool),
        "time": torch.zeros(4, 5, 4),
    }
    assert stream(Recorder(), {**batch, "t0": torch.tensor([10, 11, 12, 20])}).shape == (4, 2, 3, 1)
    assert stream(Recorder(), {**batch, "t0": torch.tensor([21, 22, 23, 24])}).shape == (4, 2, 3, 1)
    # 10..12 from scratch (W + 2 steps), 20 restarts (W steps), 21..24 continue (4 newest steps)
    assert calls == [(7, True), (5, True), (4, False)]
    stream.reset()
    stream(Recorder(), {**batch, "t0": torch.tensor([25, 26, 27, 28])})
    assert calls[-1] == (8, True)


def test_evaluation_scores_exactly_the_windowed_issue_times(dm, window_dm, tmp_path):
    module = _module(dm)
    window_module = ForecastModule(**SMALL, data_info=window_dm.info())
    trainer = _trainer(tmp_path)
    trainer.test(module, datamodule=dm, verbose=False)
    trainer.test(window_module, datamodule=window_dm, verbose=False)
    for var in dm.info().targets:
        counts = [s["count"] for s in module.test_report[var]["steps"]]
        assert counts == [s["count"] for s in window_module.test_report[var]["steps"]]
    predictions = trainer.predict(module, datamodule=dm)
    t0 = torch.cat([p["t0"] for p in predictions])
    expected = torch.cat([b["t0"] for b in window_dm.test_dataloader()])
    assert torch.equal(t0, expected) and len(t0) == len(window_dm.datasets["test"])
    assert torch.cat([p["pred"] for p in predictions]).shape == (len(t0), H, dm.panel.num_vds, 2)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["chunk", "sequence"])
def test_tiny_fit_lowers_the_loss_and_steps_the_schedule(dm, tmp_path, policy):
    module = _module(dm, optimizer_step=policy)
    batch = next(iter(dm.train_dataloader()))

    def loss() -> float:
        with torch.no_grad():
            scaled, _ = module.net.forward_sequence(batch["x"], batch["x_mask"], batch["time"])
            pred = scaled * module.target_std + module.target_mean
            return module.loss_fn(pred, batch["y"], batch["y_mask"]).item()

    before = loss()
    trainer = _trainer(tmp_path, max_epochs=4)
    trainer.fit(module, datamodule=dm)
    after = loss()
    assert after < 0.8 * before
    per_batch = optimizer_steps_per_batch(module.tbptt, L_SEQ, W)
    assert per_batch == (3 if policy == "chunk" else 1)  # chunks 0-7, 8-15, 16-23: all hold scored steps
    steps = 4 * len(dm.train_dataloader()) * per_batch
    assert trainer.global_step == steps
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.last_epoch == steps  # one schedule step per optimiser step, none more


def test_warmup_chunks_make_no_optimizer_step(dm):
    config = TBPTTConfig(chunk=4)
    assert optimizer_steps_per_batch(config, 24, 6) == 5  # steps 0-3 are warm-up only (first scored: 5)
    assert optimizer_steps_per_batch(TBPTTConfig(chunk=4, optimizer_step="sequence"), 24, 6) == 1

    module = _module(dm, chunk=4)

    class Opt:
        def __init__(self):
            self.steps = 0

        def zero_grad(self):
            pass

        def step(self):
            self.steps += 1

    opt, sched = Opt(), Opt()
    module.optimizers = lambda: opt
    module.lr_schedulers = lambda: sched
    module.manual_backward = lambda loss: loss.backward()
    module.clip_gradients = lambda *a, **k: None
    tbptt_step(module, next(iter(dm.train_dataloader())), TBPTTConfig(chunk=4))
    assert opt.steps == sched.steps == 5


def test_sequence_accumulation_is_the_gradient_of_the_sequence_mean(dm):
    """optimizer_step: sequence accumulates chunk gradients weighted to the whole sequence's mean loss."""
    module = _module(dm, optimizer_step="sequence").double()
    batch = _double(next(iter(dm.train_dataloader())))
    grads = {}

    class Opt:
        def zero_grad(self):
            module.zero_grad()

        def step(self):
            grads.update({n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None})

    module.optimizers, module.lr_schedulers = Opt, Opt
    module.manual_backward = lambda loss: loss.backward()
    module.clip_gradients = lambda *a, **k: None
    tbptt_step(module, batch, module.tbptt)
    # reference: the mean over every scored target of the sequence, state detached every 8 steps
    module.zero_grad()
    state, total = None, 0.0
    for lo in range(0, L_SEQ, 8):
        sl = slice(lo, lo + 8)
        scaled, state = module.net.forward_sequence(
            batch["x"][:, sl], batch["x_mask"][:, sl], batch["time"][:, sl], state
        )
        err = (scaled * module.target_std + module.target_mean - batch["y"][:, sl]).abs()  # loss_scale: none
        total = total + (err * batch["y_mask"][:, sl]).sum()
        state = detach_state(state)
    (total / batch["y_mask"].sum()).backward()
    assert grads.keys()
    # tolerance of float32: tbptt_step unscales the forecasts in float32, as forward does
    for name, grad in grads.items():
        torch.testing.assert_close(grad, dict(module.named_parameters())[name].grad, rtol=1e-5, atol=1e-7)


def test_checkpoint_records_sequence_mode(dm, tmp_path):
    module = _module(dm)
    trainer = _trainer(tmp_path, max_steps=1)
    trainer.fit(module, datamodule=dm)
    path = tmp_path / "seq.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint["data_info"]["mode"] == "sequence" and checkpoint["data_info"]["sequence_length"] == L_SEQ
    assert checkpoint["hyper_parameters"]["tbptt"] == {"chunk": 8, "optimizer_step": "chunk", "gradient_clip_val": 1.0}
    restored = ForecastModule.from_checkpoint(str(path))
    assert restored.stream is not None and not restored.automatic_optimization
    batch = next(iter(dm.test_dataloader()))
    module.eval()
    with torch.no_grad():
        module.stream.reset()
        torch.testing.assert_close(module(batch), restored(batch))


def test_bad_options_are_refused(dm):
    with pytest.raises(UserError, match=r"model.tbptt.chunk \(25\) is longer than data.sequence_length \(24\)"):
        _module(dm, chunk=25)
    with pytest.raises(UserError, match="chunk must be >= 1"):
        _module(dm, chunk=0)
    with pytest.raises(UserError, match="unknown model.tbptt.optimizer_step 'epoch'; valid: chunk, sequence"):
        _module(dm, optimizer_step="epoch")
    with pytest.raises(UserError, match="unknown option"):
        _module(dm, chunks=4)
