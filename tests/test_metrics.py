import math

import pytest
import torch

from social_xlstm.metrics import MaskedErrors, masked_mae, masked_mse, sum_across_ranks


def test_masked_mae_ignores_unobserved_targets():
    pred = torch.tensor([1.0, 2.0, 10.0])
    target = torch.tensor([2.0, 4.0, 0.0])
    mask = torch.tensor([True, True, False])
    assert masked_mae(pred, target, mask).item() == pytest.approx(1.5)
    assert masked_mse(pred, target, mask).item() == pytest.approx((1 + 4) / 2)


def test_masked_mae_all_missing_is_zero_not_nan():
    pred = torch.ones(3, requires_grad=True)
    loss = masked_mae(pred, torch.zeros(3), torch.zeros(3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(pred.grad, torch.zeros(3))


def test_masked_errors_per_step_hand_computed():
    # B=2, H=2, N=1, O=1
    pred = torch.tensor([[[[1.0]], [[5.0]]], [[[3.0]], [[2.0]]]])
    target = torch.tensor([[[[2.0]], [[1.0]]], [[[3.0]], [[0.5]]]])
    mask = torch.tensor([[[[True]], [[True]]], [[[True]], [[False]]]])
    acc = MaskedErrors(horizon=2, num_outputs=1, mape_floor=1e-3)
    # split into two updates: accumulation must equal one pass
    acc.update(pred[:1], target[:1], mask[:1])
    acc.update(pred[1:], target[1:], mask[1:])
    out = acc.compute()
    # step 1: errors 1 and 0 -> MAE 0.5, RMSE sqrt(0.5), MAPE mean(1/2, 0/3) = 25%
    assert out["mae"][0, 0].item() == pytest.approx(0.5)
    assert out["rmse"][0, 0].item() == pytest.approx(math.sqrt(0.5))
    assert out["mape"][0, 0].item() == pytest.approx(25.0)
    # step 2: only the first sample observed: error 4 on actual 1
    assert out["mae"][1, 0].item() == pytest.approx(4.0)
    assert out["mape"][1, 0].item() == pytest.approx(400.0)
    report = acc.report(["flow"], freq_minutes=5)
    assert [s["minutes"] for s in report["flow"]["steps"]] == [5, 10]
    assert report["flow"]["steps"][1]["count"] == 1
    # pooled average over the three observed targets: (1 + 0 + 4) / 3
    assert report["flow"]["average"]["mae"] == pytest.approx(5 / 3, abs=1e-6)
    assert report["flow"]["average"]["rmse"] == pytest.approx(math.sqrt(17 / 3), abs=1e-6)


def test_mape_floor_skips_zero_actuals_but_mae_keeps_them():
    pred = torch.tensor([1.0, 3.0]).view(1, 1, 2, 1)
    target = torch.tensor([0.0, 2.0]).view(1, 1, 2, 1)
    acc = MaskedErrors(1, 1, mape_floor=1.0)
    acc.update(pred, target, torch.ones_like(pred, dtype=torch.bool))
    out = acc.compute()
    assert out["mae"].item() == pytest.approx(1.0)
    assert out["mape"].item() == pytest.approx(50.0)


def test_empty_step_reports_none():
    acc = MaskedErrors(1, 1)
    acc.update(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1, dtype=torch.bool))
    step = acc.report(["speed"], 5)["speed"]["steps"][0]
    assert step["mae"] is None and step["count"] == 0


def test_shape_mismatch_raises():
    acc = MaskedErrors(1, 1)
    with pytest.raises(ValueError, match="shapes differ"):
        acc.update(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 2, 1), torch.ones(1, 1, 1, 1, dtype=torch.bool))


def test_summed_states_of_two_ranks_equal_one_pass():
    # what DDP does: rank r scores windows r, r+2, ...; the five float64 sums are added across ranks
    gen = torch.Generator().manual_seed(0)
    pred, target = torch.randn(9, 3, 4, 2, generator=gen) * 10, torch.randn(9, 3, 4, 2, generator=gen) * 10
    mask = torch.rand(9, 3, 4, 2, generator=gen) > 0.3
    whole = MaskedErrors(3, 2, mape_floor=1.0)
    whole.update(pred, target, mask)
    ranks = [MaskedErrors(3, 2, mape_floor=1.0) for _ in range(2)]
    for r, acc in enumerate(ranks):
        acc.update(pred[r::2], target[r::2], mask[r::2])
    ranks[0].load_state(ranks[0].state() + ranks[1].state())
    torch.testing.assert_close(ranks[0].state(), whole.state(), rtol=1e-12, atol=0)
    assert ranks[0].report(["flow", "speed"], 5) == whole.report(["flow", "speed"], 5)


def test_all_reduce_outside_a_process_group_keeps_the_sums():
    acc = MaskedErrors(2, 1)
    acc.update(torch.ones(1, 2, 3, 1), torch.zeros(1, 2, 3, 1), torch.ones(1, 2, 3, 1, dtype=torch.bool))
    before = acc.state()
    acc.all_reduce()
    assert torch.equal(acc.state(), before)
    assert sum_across_ranks(before) is before
    with pytest.raises(ValueError, match="state shape"):
        acc.load_state(torch.zeros(5, 3, 1))


def test_a_new_metric_is_one_table_entry():
    from social_xlstm.metrics import COUNT, METRICS, MaskedErrors, Metric, Sum, ratio, table_facts

    signed = Sum("signed", lambda t: (t.pred - t.target) * t.weight)
    table = {**METRICS, "bias": Metric("bias", (signed, COUNT), ratio)}
    pred = torch.tensor([3.0, 1.0, 7.0, 2.0]).view(1, 1, 4, 1)
    target = torch.tensor([1.0, 2.0, 5.0, 100.0]).view(1, 1, 4, 1)
    mask = torch.tensor([True, True, True, False]).view(1, 1, 4, 1)
    errors = MaskedErrors(1, 1, metrics=table)
    errors.update(pred, target, mask)
    out = errors.compute()
    assert out["bias"].item() == pytest.approx((2 - 1 + 2) / 3)  # the unobserved 2 vs 100 is left out
    assert out["mae"].item() == pytest.approx((2 + 1 + 2) / 3)
    report = errors.report(["speed"], 5.0)["speed"]
    assert report["steps"][0]["bias"] == pytest.approx(1.0) and report["average"]["bias"] == pytest.approx(1.0)
    assert table_facts(table)["metrics"] == ["mae", "rmse", "mape", "bias"]
    assert table_facts()["metric_units"] == {"mape": "%"}


def test_two_sums_with_one_name_are_an_error():
    from social_xlstm.metrics import COUNT, METRICS, MaskedErrors, Metric, Sum, ratio

    clash = Metric("clash", (Sum("abs", lambda t: t.weight), COUNT), ratio)
    with pytest.raises(ValueError, match="already named 'abs'"):
        MaskedErrors(1, 1, metrics={**METRICS, "clash": clash})
