"""The forecaster skeleton with every architecture: shapes, gradients, registry, config, fallback, skip, learning."""

from __future__ import annotations

import pytest
import torch

from social_xlstm.errors import UserError
from social_xlstm.nn import ARCHITECTURES, ARCHS, Forecaster, LastStep, ModelConfig, NetworkShape
from social_xlstm.nn.common import last_observed, standardise_edge_attr
from social_xlstm.nn.encoders import ENCODERS
from social_xlstm.nn.fusion import FUSIONS

N, B, W, F, H, O = 5, 3, 6, 3, 4, 2


def _graph():
    src = torch.arange(N)
    pairs = [torch.stack([src, src]), torch.stack([src, (src + 1) % N]), torch.stack([(src + 1) % N, src])]
    edge_index = torch.cat(pairs, 1)  # (2, 3N): self loops and both ring directions
    edge_attr = torch.cat([torch.rand(edge_index.shape[1], 1) * 1000, torch.ones(edge_index.shape[1], 1)], 1)
    return edge_index, edge_attr


def _batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x_mask = torch.rand(B, W, N, F, generator=gen) > 0.2
    x = torch.randn(B, W, N, F, generator=gen) * x_mask
    time = torch.randn(B, W, 4, generator=gen)
    return x, x_mask, time


def _model(arch="social_xlstm", encoder=None, social=None, head=None, embedding=None, **kw):
    torch.manual_seed(0)
    kw.setdefault("d_model", 16)
    config = ModelConfig(
        arch=arch,
        encoder={"heads": 2, **(encoder or {})},
        social={"heads": 2, **(social or {})},
        head=head or {},
        embedding=embedding or {},
        **kw,
    )
    return Forecaster(config, NetworkShape(N, F, O, H, *_graph(), window=W))


@pytest.mark.parametrize("arch", ARCHS)
def test_shapes_and_every_parameter_gets_a_gradient(arch):
    model = _model(arch)
    y = model(*_batch())
    assert y.shape == (B, H, N, O)
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []
    assert "edge_index" in dict(model.named_buffers()) and "edge_attr" in dict(model.named_buffers())


@pytest.mark.parametrize("context", ["last", "all"])
def test_social_context_all_gives_same_forecast_as_last(context):
    # The parallel form is causal, so querying every step changes nothing for the last step.
    model_last = _model(social={"context": "last"}).eval()
    model_ctx = _model(social={"context": context}).eval()
    model_ctx.load_state_dict(model_last.state_dict())
    torch.testing.assert_close(model_ctx(*_batch()), model_last(*_batch()), rtol=1e-5, atol=1e-5)


def test_unknown_arch_lists_valid_names():
    with pytest.raises(ValueError, match="valid values: social_xlstm, lstm, gru_gcn, slstm_only, slstm_pool"):
        ModelConfig(arch="transformer")
    config = ModelConfig()
    config.arch = "transformer"  # set after validation, as a careless caller could
    with pytest.raises(ValueError, match="valid names: social_xlstm.*gru_gcn"):
        Forecaster(config, NetworkShape(N, F, O, H, *_graph()))
    with pytest.raises(UserError):  # the CLI turns it into exit status 2
        ModelConfig(arch="nope")


def test_config_derived_values_and_checks():
    config = ModelConfig(d_model=64, encoder={"heads": 4}, social={"heads": 8})
    assert (config.encoder.head_dim, config.encoder.ff_dim, config.social.dim, config.head.hidden_dim) == (
        16,
        88,
        8,
        128,
    )
    assert ModelConfig(d_model=48, social={"heads": 4, "head_dim": 5}).social.dim == 5
    with pytest.raises(ValueError, match="divisible by encoder.heads"):
        ModelConfig(d_model=30, encoder={"heads": 4})
    with pytest.raises(ValueError, match="social.context='every'"):
        ModelConfig(social={"context": "every"})
    with pytest.raises(ValueError, match=r"SocialConfig: unknown option\(s\) \['hedas'\]"):
        ModelConfig(social={"hedas": 2})
    with pytest.raises(ValueError, match="encoder.layers must be >= 1"):
        ModelConfig(encoder={"layers": 0})
    with pytest.raises(ValueError, match=r"embedding.fallback_prob=1.5 must lie in \[0, 1\)"):
        ModelConfig(embedding={"fallback_prob": 1.5})


def test_default_components_are_not_shared_between_models():
    from social_xlstm.nn import EncoderConfig

    shared = EncoderConfig(heads=2)
    wide, narrow = ModelConfig(d_model=64, encoder=shared), ModelConfig(d_model=16, encoder=shared)
    assert (wide.encoder.head_dim, narrow.encoder.head_dim, shared.head_dim) == (32, 8, 0)


def test_registry_names_existing_parts_and_every_arch_is_one_skeleton():
    for name, arch in ARCHITECTURES.items():
        assert arch.encoder in ENCODERS and arch.fusion in FUSIONS, name
    assert ARCHS == ("social_xlstm", "lstm", "gru_gcn", "slstm_only", "slstm_pool", "stid")
    for name in ARCHS:
        model = _model(name)
        assert type(model) is Forecaster
        assert {"embedding", "fusion", "head"} <= dict(model.named_children()).keys()
    assert _model("gru_gcn").encoder is None
    assert isinstance(_model("lstm").fusion, LastStep)


def test_fallback_row_is_used_for_index_n():
    model = _model().eval()
    emb = model.embedding
    with torch.no_grad():
        emb.vd_table.weight[N] = 5.0  # make the fallback row recognisable
    got = emb.vd_embedding(1, torch.tensor([N, 0]))  # (1, 2, D)
    torch.testing.assert_close(got[0, 0], emb.vd_proj(torch.full((emb.vd_table.embedding_dim,), 5.0)))
    torch.testing.assert_close(got[0, 1], emb.vd_proj(emb.vd_table.weight[0]))
    # An all-fallback forecast differs from the per-VD one but keeps the shape.
    x = _batch()
    y_fb = model(*x, vd_index=torch.full((N,), N))
    assert y_fb.shape == (B, H, N, O) and not torch.allclose(y_fb, model(*x))
    with pytest.raises(ValueError, match=r"vd_index must lie in \[0, 5\]"):
        model(*x, vd_index=torch.full((N,), N + 1))


def test_held_out_and_hidden_vds_read_the_fallback_row_on_every_path():
    """A held-out VD (``NetworkShape.fallback_vds``) reads the fallback row whether the model runs on every
    VD, on sampled ``nodes`` or step by step; a batch's hidden VDs (``fallback``) read it in that batch."""
    config = ModelConfig(arch="social_xlstm", d_model=16, encoder={"heads": 2}, social={"heads": 2})
    torch.manual_seed(0)
    held = Forecaster(config, NetworkShape(N, F, O, H, *_graph(), window=W, fallback_vds=(1, 3))).eval()
    emb = held.embedding
    rows = emb.vd_embedding(1)[0]  # (N, D)
    fallback = emb.vd_proj(emb.vd_table.weight[N])
    for pos in range(N):
        expected = fallback if pos in (1, 3) else emb.vd_proj(emb.vd_table.weight[pos])
        torch.testing.assert_close(rows[pos], expected)
    torch.testing.assert_close(emb.vd_embedding(1, torch.tensor([3, 4]))[0, 0], fallback)  # sampled nodes
    # the same weights without held-out VDs, reading the fallback row for VDs 1 and 3 explicitly
    plain = _model().eval()
    plain.load_state_dict(held.state_dict())
    x = _batch()
    explicit = plain(*x, vd_index=torch.tensor([0, N, 2, N, 4]))
    torch.testing.assert_close(held(*x), explicit)
    hidden = torch.zeros(B, N, dtype=torch.bool)
    hidden[:, [1, 3]] = True
    torch.testing.assert_close(plain(*x, fallback=hidden), explicit)
    y, _ = held.forward_sequence(*x)
    torch.testing.assert_close(y[:, -1], held(*x), atol=1e-5, rtol=1e-5)  # the step path reads it too


def test_vds_without_a_detector_change_no_other_vds_forecast_through_the_global_read():
    """VD 2 held out: nothing reads it (the holdout graph) and it writes nothing into the network-wide memory."""
    social = {"heads": 2, "global_read": True}
    config = ModelConfig(arch="social_xlstm", d_model=16, encoder={"heads": 2}, social=social)
    edge_index, edge_attr = _graph()
    src, dst = edge_index
    keep = (src != 2) | (dst == 2)
    torch.manual_seed(0)
    shape = NetworkShape(N, F, O, H, edge_index[:, keep], edge_attr[keep], window=W, fallback_vds=(2,))
    model = Forecaster(config, shape).eval()
    with torch.no_grad():
        model.global_read.out_proj.weight.normal_()  # a trained read (it starts at zero)
    x, x_mask, time = _batch()
    other = x.clone()
    other[:, :, 2] += 3.0
    others = [0, 1, 3, 4]
    torch.testing.assert_close(model(other, x_mask, time)[:, :, others], model(x, x_mask, time)[:, :, others])
    assert not torch.allclose(model(other, x_mask, time)[:, :, 2], model(x, x_mask, time)[:, :, 2])


def test_fallback_dropout_only_in_training():
    model = _model(embedding={"fallback_prob": 0.5})
    emb = model.embedding
    with torch.no_grad():
        emb.vd_table.weight.zero_()
        emb.vd_table.weight[N] = 1.0
    torch.manual_seed(3)
    rows = emb.vd_table(torch.arange(N))  # reference: no fallback
    assert rows.abs().sum() == 0
    train_out = emb.vd_embedding(400)  # (400, N, D)
    used = (train_out.abs().sum(-1) > 0).float().mean().item()
    assert 0.4 < used < 0.6
    emb.eval()
    assert emb.vd_embedding(400).abs().sum() == 0


def test_activation_checkpointing_same_output_and_gradients():
    plain = _model(dropout=0.2)
    ckpt = _model(dropout=0.2, encoder={"activation_checkpointing": True})
    ckpt.load_state_dict(plain.state_dict())
    outs, grads = [], []
    for model in (plain, ckpt):
        torch.manual_seed(7)  # same dropout masks in both runs
        y = model(*_batch())
        y.square().mean().backward()
        outs.append(y)
        grads.append({n: p.grad for n, p in model.named_parameters()})
    torch.testing.assert_close(outs[0], outs[1])
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, msg=name)


def test_encoder_same_output_whatever_backend():
    ref = _model(encoder={"backend": "torch"}).eval()
    x = _batch()
    y_ref = ref(*x)
    y_ref.sum().backward()
    for backend in ("cpu", "auto"):
        other = _model(encoder={"backend": backend}).eval()
        other.load_state_dict(ref.state_dict())
        y = other(*x)
        torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
        y.sum().backward()
        for (name, p), q in zip(other.named_parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_last_observed_hand_computed():
    x = torch.zeros(1, 3, 2, 2)
    mask = torch.zeros(1, 3, 2, 2, dtype=torch.bool)
    x[0, 0, 0, 1], mask[0, 0, 0, 1] = 1.0, True  # VD 0, var 1: only step 0
    x[0, 1, 1, 1], mask[0, 1, 1, 1] = 2.0, True  # VD 1, var 1: steps 1 and 2 -> 3.0
    x[0, 2, 1, 1], mask[0, 2, 1, 1] = 3.0, True
    got = last_observed(x, mask, torch.tensor([1, 0]))  # (B, N, O) with targets [var 1, var 0]
    assert got.tolist() == [[[1.0, 0.0], [3.0, 0.0]]]


def test_last_value_skip_adds_last_observation():
    plain = _model().eval()
    skip = _model(head={"last_value": True}).eval()
    skip.load_state_dict(plain.state_dict())
    x, mask, time = _batch()
    want = plain(x, mask, time) + last_observed(x, mask, torch.arange(O))[:, None]
    torch.testing.assert_close(skip(x, mask, time), want)


def test_edge_attr_is_standardised():
    _, attr = _graph()
    scaled = standardise_edge_attr(attr)
    torch.testing.assert_close(scaled[:, 0].mean(), torch.tensor(0.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(scaled[:, 0].std(unbiased=False), torch.tensor(1.0))
    assert (scaled[:, 1] == 0).all()  # constant column


@pytest.mark.parametrize("arch", ARCHS)
def test_a_few_adam_steps_lower_the_loss(arch):
    torch.manual_seed(1)
    x, mask, time = _batch(seed=1)
    target = torch.randn(B, H, N, O)
    model = _model(arch, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = (model(x, mask, time) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.75 * losses[0], losses


@pytest.mark.parametrize("arch", ["social_xlstm", "slstm_pool", "slstm_only", "lstm"])
@pytest.mark.parametrize("form", ["target", "source"])
def test_sampled_vds_with_their_neighbours_get_the_full_graph_forecast(arch, form):
    # The ring graph of _graph(): VD i reads itself, i - 1 and i + 1 (mod 5).
    model = _model(arch, social={"form": form}).eval()
    x, mask, time = _batch()
    full = model(x, mask, time)  # (B, H, N, O)
    every = torch.arange(N)
    torch.testing.assert_close(model(x, mask, time, nodes=every), full)
    subset = torch.tensor([0, 1, 2, 3])  # VD 4 left out: 0 loses an in-neighbour, 1 and 2 keep theirs
    got = model(x[:, :, subset], mask[:, :, subset], time, nodes=subset)
    torch.testing.assert_close(got[:, :, 1:3], full[:, :, 1:3], rtol=1e-5, atol=1e-6)
    if arch in ("social_xlstm", "slstm_pool"):
        assert not torch.allclose(got[:, :, 0], full[:, :, 0])


def test_gcn_fusion_on_all_vds_as_a_sample_is_the_full_forecast():
    model = _model("gru_gcn").eval()
    x, mask, time = _batch()
    torch.testing.assert_close(model(x, mask, time, nodes=torch.arange(N)), model(x, mask, time))
