"""The learner: MC dropout (fast path vs naive oracle), calibration, keep-best, determinism."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

from labald.identity import output_dir
from labald.learner import (
    MLP,
    CrossFitLearner,
    LearnerSettings,
    MCDropoutLearner,
    PoolPredictions,
    expected_calibration_error,
    fit_temperature,
    mc_dropout_logits,
    mc_dropout_predict,
    mc_dropout_predict_naive,
    nll,
    prototype_roles,
    split_prototypes,
)
from labald.learner.mc import sample_masks
from labald.learner.update import AdamState, FlatNet, adam_step, backward

FAST = LearnerSettings(mc_samples=20, max_epochs=8, min_updates=0, eval_every=None, patience=3,
                       cold_start_growth=None, cold_start_updates=None)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    """Standardised sklearn digits split into train / validation ("prototypes") / test."""
    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = torch.tensor(x[order], dtype=torch.float32), torch.tensor(y[order])
    return {"train": (x[:1000], y[:1000]), "val": (x[1000:1300], y[1000:1300]),
            "test": (x[1300:], y[1300:])}


@pytest.fixture(scope="module")
def trained(digits):
    """A learner fitted once on digits with the default settings (T = 100)."""
    learner = MCDropoutLearner(LearnerSettings(), 64, 10, seed=0)
    report = learner.fit(*digits["train"], *digits["val"], step=0)
    return learner, report


def _random_mlp(seed: int = 0, d: int = 12, k: int = 5, hidden: int = 16) -> MLP:
    torch.manual_seed(seed)
    return MLP(d, k, hidden=hidden, dropout=0.3)


# --- MC dropout -------------------------------------------------------------------------------


def test_cached_path_equals_naive_full_network_for_same_masks():
    model = _random_mlp()
    x = torch.randn(37, 12)
    fast = mc_dropout_predict(model, x, 9, torch.Generator().manual_seed(5), 1.7, chunk=8)
    slow = mc_dropout_predict_naive(model, x, 9, torch.Generator().manual_seed(5), 1.7, chunk=8)
    assert fast.shape == (9, 37, 5)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)


def test_mc_probabilities_of_far_below_logits_stay_below_the_smallest_normal():
    """Logits more than exp's normal range below the best are raised to its edge (speed): such
    probabilities stay under 2e-38 and every other one matches the naive network."""
    model = _random_mlp()
    with torch.no_grad():
        model.fc3.weight.mul_(400.0)  # logit gaps of hundreds of nats
    x = torch.randn(40, 12)
    fast = mc_dropout_predict(model, x, 6, torch.Generator().manual_seed(5))
    slow = mc_dropout_predict_naive(model, x, 6, torch.Generator().manual_seed(5))
    far = slow < 1e-38
    assert bool(far.any()) and float(fast[far].max()) < 2e-38
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=2e-38)


def test_masks_of_an_image_do_not_depend_on_chunking_or_on_later_images():
    model = _random_mlp()
    x = torch.randn(50, 12)
    whole = mc_dropout_predict(model, x, 6, torch.Generator().manual_seed(1), chunk=1000)
    chunked = mc_dropout_predict(model, x, 6, torch.Generator().manual_seed(1), chunk=7)
    prefix = mc_dropout_predict(model, x[:20], 6, torch.Generator().manual_seed(1))
    # same masks; only BLAS blocking (which follows the matrix sizes) may round differently
    torch.testing.assert_close(whole, chunked, rtol=0, atol=1e-6)
    torch.testing.assert_close(whole[:, :20], prefix, rtol=0, atol=1e-6)


def test_mc_predictions_written_into_a_given_view_equal_the_plain_ones():
    model = _random_mlp()
    x = torch.randn(30, 12)
    plain = mc_dropout_predict(model, x, 6, torch.Generator().manual_seed(4), 1.3, chunk=7, group=4)
    out = torch.full((6, 45, 5), -1.0)
    got = mc_dropout_predict(model, x, 6, torch.Generator().manual_seed(4), 1.3, chunk=7, group=4, out=out[:, 10:40])
    assert got.data_ptr() == out[:, 10:40].data_ptr()
    assert torch.equal(out[:, 10:40], plain)
    assert bool((out[:, :10] == -1).all()) and bool((out[:, 40:] == -1).all())
    with pytest.raises(ValueError, match="out must be"):
        mc_dropout_predict(model, x, 6, torch.Generator().manual_seed(4), out=out)


def test_mc_blocking_of_images_and_networks_changes_nothing_beyond_blas_rounding():
    """Each output is one dot product over the same terms whatever the blocks (the BLAS may still
    pick another kernel for another matrix size)."""
    model = _random_mlp()
    x = torch.randn(50, 12)
    whole = mc_dropout_predict(model, x, 9, torch.Generator().manual_seed(2), 1.4, chunk=50, group=9)
    for chunk, group in [(7, 2), (1, 9), (50, 1), (16, 4)]:
        got = mc_dropout_predict(model, x, 9, torch.Generator().manual_seed(2), 1.4, chunk=chunk, group=group)
        torch.testing.assert_close(got, whole, rtol=0, atol=1e-6, msg=f"{chunk} x {group}")


def test_pool_predictions_read_like_the_dense_tensor_in_pool_order():
    """Cross-fitted folds store their images fold after fold; take / mean / dense hide the order."""
    dense = torch.rand(5, 11, 3)
    slot = torch.randperm(11, generator=torch.Generator().manual_seed(1))
    stored = torch.empty_like(dense)
    stored[:, slot] = dense
    pool = PoolPredictions(stored, slot)
    assert torch.equal(pool.dense(), dense)
    images = np.array([9, 0, 4, 4])
    assert torch.equal(pool.take(images), dense[:, images])
    torch.testing.assert_close(pool.mean(), dense.mean(0), rtol=2e-7, atol=0)
    plain = PoolPredictions(dense)
    assert torch.equal(plain.take(images), dense[:, images]) and torch.equal(plain.mean(), dense.mean(0))


def test_mc_logits_are_the_logits_of_the_same_sampled_networks():
    model = _random_mlp()
    x = torch.randn(23, 12)
    logits = mc_dropout_logits(model, x, 7, torch.Generator().manual_seed(3))
    probs = mc_dropout_predict(model, x, 7, torch.Generator().manual_seed(3), 2.5)
    torch.testing.assert_close(torch.softmax(logits / 2.5, dim=-1), probs, rtol=1e-5, atol=1e-6)


def test_each_mc_sample_is_one_network_shared_by_all_images():
    model = _random_mlp()
    x = torch.randn(30, 12)
    probs = mc_dropout_predict(model, x, 4, torch.Generator().manual_seed(3))
    keep = sample_masks(4, 16, 0.3, torch.Generator().manual_seed(3)).float() / 0.7
    for t in range(4):
        a1 = torch.relu(model.fc1(x)) * keep[t, 0]
        a2 = torch.relu(model.fc2(a1)) * keep[t, 1]
        torch.testing.assert_close(probs[t], torch.softmax(model.fc3(a2), -1), rtol=1e-5, atol=1e-6)


def test_mc_dropout_drops_units_at_the_dropout_rate():
    keep = sample_masks(2000, 64, 0.3, torch.Generator().manual_seed(0))
    assert keep.shape == (2000, 2, 64)
    assert abs((~keep).double().mean().item() - 0.3) < 0.005  # 256k Bernoulli draws: sd ~ 1e-3


def test_mc_samples_differ_while_their_mean_is_stable(trained, digits):
    learner, _ = trained
    x = digits["test"][0][:200]
    model = learner.model
    a = mc_dropout_predict(model, x, 100, torch.Generator().manual_seed(1))
    b = mc_dropout_predict(model, x, 100, torch.Generator().manual_seed(2))
    assert not torch.equal(a, b)
    spread = a.std(dim=0).max(dim=1).values  # per image, across the T samples
    assert (spread > 1e-3).float().mean() > 0.5
    gap = (a.mean(0) - b.mean(0)).abs()
    assert gap.mean() < 0.01 and gap.max() < 0.15


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 30), t=st.integers(1, 6), chunk=st.integers(1, 12),
       temperature=st.floats(0.1, 10.0))
def test_mc_predictions_are_distributions(n, t, chunk, temperature):
    model = _random_mlp()
    x = torch.randn(n, 12, generator=torch.Generator().manual_seed(n))
    probs = mc_dropout_predict(model, x, t, torch.Generator().manual_seed(0), temperature,
                               chunk=chunk)
    assert probs.shape == (t, n, 5)
    assert bool((probs >= 0).all())
    torch.testing.assert_close(probs.sum(-1), torch.ones(t, n))


def test_mc_paths_reject_bad_shapes_and_leave_inputs_alone():
    model = _random_mlp()
    with pytest.raises(ValueError, match=r"x must be \[N, 12\]"):
        mc_dropout_predict(model, torch.randn(4, 11), 3, torch.Generator())
    with pytest.raises(ValueError, match="temperature"):
        mc_dropout_predict(model, torch.randn(4, 12), 3, torch.Generator(), temperature=0.0)
    x = torch.randn(4, 12)
    before = x.clone()
    mc_dropout_predict(model, x, 3, torch.Generator())
    assert torch.equal(x, before)


# --- calibration ------------------------------------------------------------------------------


def test_temperature_recovers_the_temperature_labels_were_drawn_at():
    gen = torch.Generator().manual_seed(0)
    logits = 3.0 * torch.randn(5_000, 6, generator=gen)
    labels = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen).squeeze(1)
    fitted = fit_temperature(4.0 * logits, labels)  # 4x over-confident
    assert fitted == pytest.approx(4.0, rel=0.1)
    grid = [nll(4.0 * logits, labels, t) for t in np.linspace(0.5, 8.0, 76)]
    assert nll(4.0 * logits, labels, fitted) <= min(grid) + 1e-9


def test_temperature_stays_one_when_scaling_cannot_help():
    labels = torch.tensor([0, 1, 2, 1])
    assert fit_temperature(torch.zeros(4, 3), labels) == 1.0  # uniform: NLL flat in T


def test_temperature_scaling_lowers_prototype_nll_of_an_overconfident_model(trained, digits):
    learner, _ = trained
    model = MLP(64, 10)  # an over-confident copy of the trained model
    model.load_state_dict(learner.model.state_dict())
    with torch.no_grad():
        model.fc3.weight.mul_(8.0)
        model.fc3.bias.mul_(8.0)
    model.eval()
    x_val, y_val = digits["val"]
    with torch.no_grad():
        logits = model(x_val)
    temperature = fit_temperature(logits, y_val)
    assert temperature > 2.0
    assert nll(logits, y_val, temperature) < 0.5 * nll(logits, y_val)


def test_ece_is_zero_for_perfect_confident_predictions():
    labels = torch.tensor([0, 2, 1, 2])
    assert expected_calibration_error(torch.eye(3)[labels], labels) == 0.0


def test_ece_matches_a_hand_computation():
    probs = torch.tensor([[0.75, 0.25], [0.75, 0.25], [0.45, 0.55], [0.05, 0.95]])
    labels = torch.tensor([0, 1, 1, 1])
    # bins of width 0.1: (0.7, 0.8] holds two at 0.75, one right: 2/4 * |0.5 - 0.75| = 0.125;
    # (0.5, 0.6] one right at 0.55: 1/4 * 0.45 = 0.1125; (0.9, 1] one right at 0.95: 0.0125.
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(0.25)


# --- the learner ------------------------------------------------------------------------------


def test_learner_reaches_high_accuracy_with_calibrated_predictions(trained, digits):
    learner, report = trained
    assert report.adopted and report.n_train == 1000 and report.temperature > 0
    x_test, y_test = digits["test"]
    mean = learner.predict_mean(x_test, step=1)
    torch.testing.assert_close(mean.sum(1), torch.ones(len(y_test)))
    assert (mean.argmax(1) == y_test).float().mean() > 0.93
    assert expected_calibration_error(mean, y_test) < 0.08
    assert learner.predict_mc(x_test, step=1).shape == (100, len(y_test), 10)


def test_keep_best_never_adopts_a_worse_model(trained, digits):
    learner = MCDropoutLearner(FAST, 64, 10, seed=0)
    learner.load_state_dict(trained[0].state_dict())  # a well-trained kept model
    first = trained[1]
    x_test = digits["test"][0]
    params = {k: v.clone() for k, v in learner.model.state_dict().items()}
    before = learner.predict_mc(x_test, step=5)
    # pseudo-labels all shifted by one class: the candidate validates far worse than the kept model
    x_train, y_train = digits["train"]
    y_wrong = (y_train + 1) % 10
    second = learner.fit(x_train.repeat(8, 1), y_wrong.repeat(8), *digits["val"], step=1)
    assert first.adopted and not second.adopted
    assert second.val_error > 0.5 > second.kept_val_error
    assert learner.temperature == first.temperature
    assert all(torch.equal(v, params[k]) for k, v in learner.model.state_dict().items())
    assert torch.equal(learner.predict_mc(x_test, step=5), before)


@pytest.mark.parametrize("criterion", ["error", "nll", "off"])
def test_keep_best_criterion_decides_on_the_same_validation_set(trained, digits, criterion):
    """The kept model is re-validated beside the candidate; error ties go to the candidate."""
    settings = LearnerSettings(mc_samples=20, max_epochs=2, min_updates=0, keep_best=criterion)
    learner = MCDropoutLearner(settings, 64, 10, seed=0)
    learner.load_state_dict(trained[0].state_dict())
    x_train, y_train = digits["train"]
    report = learner.fit(x_train, y_train, *digits["val"], step=1)
    expected = {"error": report.val_error <= report.kept_val_error,
                "nll": report.val_nll <= report.kept_val_nll, "off": True}[criterion]
    assert report.adopted == expected
    kept = MCDropoutLearner(settings, 64, 10, seed=0)
    kept.load_state_dict(trained[0].state_dict())
    x_val, y_val = digits["val"]
    mean = kept.predict_mc(x_val, step=0).mean(0)  # the kept model was fitted (and calibrated) at step 0
    assert report.kept_val_error == pytest.approx(float((mean.argmax(1) != y_val).float().mean()))


def test_keep_best_compares_on_held_out_examples_only(trained, digits):
    learner = MCDropoutLearner(FAST, 64, 10, seed=0)
    learner.load_state_dict(trained[0].state_dict())
    x_val, y_val = digits["val"]
    held_out = torch.arange(len(y_val)) % 3 == 0
    report = learner.fit(*digits["train"], x_val, y_val, step=1, held_out=held_out)
    kept = MCDropoutLearner(FAST, 64, 10, seed=0)
    kept.load_state_dict(trained[0].state_dict())
    mean = kept.predict_mc(x_val[held_out], step=0).mean(0)
    assert report.kept_val_error == pytest.approx(float((mean.argmax(1) != y_val[held_out]).float().mean()))


def test_first_fit_is_always_adopted_even_when_poor(digits):
    learner = MCDropoutLearner(FAST, 64, 10, seed=0)
    x_train, y_train = digits["train"]
    report = learner.fit(x_train, torch.zeros_like(y_train), *digits["val"], step=0)
    assert report.adopted and report.kept_val_error == math.inf


def test_class_balanced_batches_draw_each_class_equally(digits):
    """With 1/count weights a 90%-majority class fills about 1/K of each batch (Liao et al.)."""
    x_train, y_train = digits["train"]
    y = torch.where(torch.arange(len(y_train)) < 900, torch.zeros_like(y_train), y_train % 5)
    learner = MCDropoutLearner(LearnerSettings(batch_size=256), 64, 5, seed=0)
    batches = learner._batches(y, torch.Generator().manual_seed(0))
    drawn = torch.cat([next(batches) for _ in range(200)])
    counts = torch.bincount(y[drawn], minlength=5).double()
    share = counts / counts.sum()
    assert torch.allclose(share, torch.full((5,), 0.2, dtype=torch.float64), atol=0.01)
    shuffled = MCDropoutLearner(LearnerSettings(batch_size=256, balanced=False), 64, 5, seed=0)
    plain = shuffled._batches(y, torch.Generator().manual_seed(0))
    first_epoch = torch.cat([next(plain) for _ in range(4)])
    assert torch.equal(torch.sort(first_epoch).values, torch.arange(1000))  # a permutation: no balance


def test_a_cold_fit_runs_at_least_min_updates(digits):
    """80 examples (the step-0 prototypes of a 16-class subtask) still get min_updates updates."""
    x_train, y_train = digits["train"]
    settings = LearnerSettings(mc_samples=10, max_epochs=5, min_updates=120, eval_every=10, patience=1)
    report = MCDropoutLearner(settings, 64, 10, seed=0).fit(x_train[:80], y_train[:80], *digits["val"], step=0)
    assert report.updates >= 120


def test_temperature_calibrates_the_mc_mean_that_em_receives(digits):
    """calibrate=mc_mean minimises the NLL of the mean of the T dropout samples on validation;
    calibrate=network that of the dropout-free network, which leaves the MC mean worse."""
    x_train, y_train = digits["train"]
    x_val, y_val = digits["val"]
    base = dict(mc_samples=50, max_epochs=10, min_updates=0)
    fitted = {}
    for mode in ("mc_mean", "network"):
        learner = MCDropoutLearner(LearnerSettings(calibrate=mode, **base), 64, 10, seed=0)
        learner.fit(x_train[:300], y_train[:300], x_val, y_val, step=0)
        fitted[mode] = learner
    mc = fitted["mc_mean"]
    logits = mc_dropout_logits(mc.model, x_val, 50, mc._mc_generator(0))
    grid = torch.exp(torch.linspace(math.log(0.05), math.log(20), 400)).tolist()
    best = min(grid, key=lambda t: nll(logits, y_val, t))
    assert nll(logits, y_val, mc.temperature) <= nll(logits, y_val, best) + 1e-6
    mean_nll = {m: float(nll(torch.log(fitted[m].predict_mc(x_val, 0).mean(0)), y_val)) for m in fitted}
    assert mean_nll["mc_mean"] <= mean_nll["network"] + 1e-9


def test_fits_and_predictions_are_bit_identical_for_the_same_seed_and_step(digits):
    x_train, y_train = digits["train"]
    x_test = digits["test"][0][:200]
    runs = []
    for seed in (3, 3, 4):
        learner = MCDropoutLearner(FAST, 64, 10, seed=seed)
        report = learner.fit(x_train[:400], y_train[:400], *digits["val"], step=0)
        runs.append((report, learner.predict_mc(x_test, step=1)))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    assert not torch.equal(runs[2][1], runs[0][1])


def test_fit_leaves_inputs_and_global_rng_untouched(digits):
    learner = MCDropoutLearner(FAST, 64, 10, seed=0)
    inputs = [*digits["train"], *digits["val"]]
    copies = [t.clone() for t in inputs]
    rng_state = torch.get_rng_state()
    learner.fit(*inputs, step=0)
    learner.predict_mc(digits["test"][0], step=0)
    assert all(torch.equal(a, b) for a, b in zip(inputs, copies, strict=True))
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_state_dict_round_trip_resumes_identically(digits):
    x_train, y_train = digits["train"]
    original = MCDropoutLearner(FAST, 64, 10, seed=0)
    original.fit(x_train[:500], y_train[:500], *digits["val"], step=0)
    resumed = MCDropoutLearner(FAST, 64, 10, seed=99)
    resumed.load_state_dict(original.state_dict())
    x_test = digits["test"][0]
    assert torch.equal(resumed.predict_mc(x_test, step=1), original.predict_mc(x_test, step=1))
    a = original.fit(x_train, y_train, *digits["val"], step=1)
    b = resumed.fit(x_train, y_train, *digits["val"], step=1)
    assert a == b
    assert torch.equal(resumed.predict_mc(x_test, step=2), original.predict_mc(x_test, step=2))


def test_cold_start_growth_trains_from_scratch_once_the_train_set_has_grown_enough(digits):
    """With cold_start_growth = 2 a fit starts from scratch (as with warm_start off) when its train
    set is at least twice the kept model's, and warm (as by default) below that; resumable."""
    x, y = digits["train"]
    grow = dataclasses.replace(FAST, cold_start_growth=2.0)

    def fitted(settings, n_second):
        learner = MCDropoutLearner(settings, 64, 10, seed=3)
        learner.fit(x[:200], y[:200], *digits["val"], step=0)
        report = learner.fit(x[:n_second], y[:n_second], *digits["val"], step=1)
        return learner, report

    x_test = digits["test"][0]
    for n_second, same_as in ((400, dataclasses.replace(FAST, warm_start=False)), (399, FAST)):
        a, report_a = fitted(grow, n_second)
        b, report_b = fitted(same_as, n_second)
        assert report_a == report_b, n_second
        assert torch.equal(a.predict_mc(x_test, step=2), b.predict_mc(x_test, step=2)), n_second
    resumed = MCDropoutLearner(grow, 64, 10, seed=0)
    resumed.load_state_dict(a.state_dict())
    assert resumed.state_dict()["kept_n_train"] == a.state_dict()["kept_n_train"] > 0
    with pytest.raises(ValueError, match="cold_start_growth"):
        LearnerSettings(cold_start_growth=1.0)


def test_cold_start_updates_sets_the_length_of_a_growth_cold_start_only(digits):
    """`cold_start_updates` = u: a cold start triggered by growth runs u updates at least (here
    exactly: 8 epochs are fewer), while the first fit keeps `min_updates` and warm fits none."""
    x, y = digits["train"]
    settings = dataclasses.replace(FAST, cold_start_growth=2.0, min_updates=30, cold_start_updates=120)
    for n_second, expected in ((400, 120), (399, None)):
        learner = MCDropoutLearner(settings, 64, 10, seed=3)
        first = learner.fit(x[:200], y[:200], *digits["val"], step=0)
        second = learner.fit(x[:n_second], y[:n_second], *digits["val"], step=1)
        assert first.updates == 30  # max(min_updates, 8 epochs of one batch)
        if expected is None:
            assert second.updates <= 8, "a warm fit runs epochs only"
        else:
            assert second.updates == expected
    with pytest.raises(ValueError, match="cold_start_updates"):
        LearnerSettings(cold_start_updates=-1)


def test_kept_model_validation_logits_reused_from_adoption_equal_fresh_ones(digits):
    """The kept model's validation logits are cached when it is adopted; a resumed learner (no cache)
    and a changed validation set (cache missed) must score the kept model exactly as the cache does,
    on a held-out subset too."""
    x_train, y_train = digits["train"]
    x_val, y_val = digits["val"]
    held_out = torch.arange(len(y_val)) % 3 != 0
    original = MCDropoutLearner(FAST, 64, 10, seed=0)
    original.fit(x_train[:500], y_train[:500], x_val, y_val, step=0)
    resumed = MCDropoutLearner(FAST, 64, 10, seed=0)
    resumed.load_state_dict(original.state_dict())
    a = original.fit(x_train, y_train, x_val, y_val, step=1, held_out=held_out)
    b = resumed.fit(x_train, y_train, x_val, y_val, step=1, held_out=held_out)
    assert a == b and math.isfinite(a.kept_val_nll)
    shrunk = original.fit(x_train, y_train, x_val[:200], y_val[:200], step=2)  # another validation set
    fresh = MCDropoutLearner(FAST, 64, 10, seed=0)
    fresh.load_state_dict(original.state_dict())
    again = fresh.fit(x_train, y_train, x_val[:200], y_val[:200], step=3)
    kept = original.fit(x_train, y_train, x_val[:200], y_val[:200], step=3)
    assert shrunk.kept_val_nll != a.kept_val_nll and again == kept


def test_cold_start_fit_does_not_depend_on_history(digits):
    cold = LearnerSettings(mc_samples=20, max_epochs=8, min_updates=0, patience=3, warm_start=False)
    x_train, y_train = digits["train"]
    with_history = MCDropoutLearner(cold, 64, 10, seed=0)
    with_history.fit(x_train[:300], y_train[:300], *digits["val"], step=0)
    fresh = MCDropoutLearner(cold, 64, 10, seed=0)
    a = with_history.fit(x_train, y_train, *digits["val"], step=1)
    b = fresh.fit(x_train, y_train, *digits["val"], step=1)
    assert a.val_nll == b.val_nll and a.temperature == b.temperature and a.updates == b.updates


def test_learner_rejects_bad_shapes_and_early_predictions(digits):
    learner = MCDropoutLearner(FAST, 64, 10, seed=0)
    x_val, y_val = digits["val"]
    with pytest.raises(RuntimeError, match="fit"):
        learner.predict_mean(x_val, step=0)
    with pytest.raises(ValueError, match=r"x \[N, 64\]"):
        learner.fit(x_val[:, :10], y_val, x_val, y_val, step=0)
    with pytest.raises(ValueError, match="labels must lie"):
        learner.fit(x_val, y_val + 10, x_val, y_val, step=0)
    with pytest.raises(ValueError, match="at least one"):
        learner.fit(x_val[:0], y_val[:0], x_val, y_val, step=0)
    with pytest.raises(ValueError, match="dropout"):
        LearnerSettings(dropout=1.0)


# --- prototypes -------------------------------------------------------------------------------


def test_split_prototypes_is_disjoint_per_class_and_seeded():
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(4), 10))
    train, val = split_prototypes(labels, 5, np.random.default_rng(7))
    assert np.intersect1d(train, val).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(40))
    assert np.array_equal(np.bincount(labels[train]), [5, 5, 5, 5])
    assert np.array_equal(np.bincount(labels[val]), [5, 5, 5, 5])
    again, _ = split_prototypes(labels, 5, np.random.default_rng(7))
    other, _ = split_prototypes(labels, 5, np.random.default_rng(8))
    assert np.array_equal(train, again) and not np.array_equal(train, other)


def test_prototype_roles_adaptive_trains_a_class_on_its_half_until_it_has_enough_pseudo_labels():
    labels = np.repeat(np.arange(3), 4)  # 4 prototypes per class
    half = np.array([0, 1, 4, 5, 8, 9])
    pseudo = np.array([0] * 4 + [1] * 3)  # class 0 has 4 confident images, class 1 has 3, class 2 none
    train, val = prototype_roles(labels, half, pseudo, 3, "adaptive")
    assert train.tolist() == [4, 5, 8, 9]
    assert val.tolist() == [0, 1, 2, 3, 6, 7, 10, 11]
    train, val = prototype_roles(labels, half, pseudo, 3, "split")
    assert train.tolist() == half.tolist() and val.tolist() == [2, 3, 6, 7, 10, 11]


def test_split_prototypes_keeps_a_validation_prototype_per_class():
    with pytest.raises(ValueError, match="class 1 has 2 prototypes"):
        split_prototypes(np.array([0, 0, 0, 1, 1]), 2, np.random.default_rng(0))


@pytest.mark.parametrize("n_train", [300, 1000])
def test_adam_runs_at_the_rate_ratio_learning_rate(digits, n_train):
    learner = MCDropoutLearner(LearnerSettings(max_epochs=1, batch_size=500), 64, 10, seed=0)
    x_train, y_train = digits["train"]
    learner.fit(x_train[:n_train], y_train[:n_train], *digits["val"], step=0)
    lr = learner.state_dict()["optimizer"]["lr"]
    assert lr == pytest.approx(1e-4 * math.sqrt(min(500, n_train)))


# --- the fused training update ----------------------------------------------------------------


# the options that change the network: hidden width (learner.hidden) and dropout rate (learner.dropout)
NETWORK_OPTIONS = [(16, 0.0), (16, 0.3), (33, 0.5), (7, 0.1)]


@pytest.mark.parametrize("hidden, dropout", NETWORK_OPTIONS)
def test_fused_backward_equals_autograd_of_the_module(hidden, dropout):
    """Same masks: the hand-written gradient is autograd's gradient of the mean cross-entropy of
    `MLP.forward`, parameter by parameter."""
    torch.manual_seed(1)
    model = MLP(12, 5, hidden=hidden, dropout=dropout).double()
    x, y = torch.randn(40, 12, dtype=torch.float64), torch.randint(0, 5, (40,))
    keep = [(torch.rand(40, hidden) >= dropout).double() for _ in range(2)] if dropout else [None, None]
    net = FlatNet(model)
    backward(net, x, y, keep)
    torch.nn.functional.cross_entropy(model(x, keeps=keep if dropout else None), y).backward()
    names = [name for name, _ in model.named_parameters()]
    assert len(net.grads) == len(names) == 6
    for mine, (name, param) in zip(net.grads, model.named_parameters()):
        assert torch.allclose(mine, param.grad, rtol=1e-10, atol=1e-12), name
    model.eval()
    torch.testing.assert_close(net.logits(x), model(x), rtol=1e-12, atol=1e-12)  # the dropout-free network
    moved = FlatNet(model)
    moved.theta.add_(1.0)
    moved.write_into(model)
    assert torch.equal(FlatNet(model).theta, moved.theta)


@pytest.mark.parametrize("hidden, dropout", NETWORK_OPTIONS)
def test_fused_mc_inference_equals_the_module_with_the_same_masks(hidden, dropout):
    """Each sampled network of the fused path is `MLP.forward` with that network's masks."""
    torch.manual_seed(3)
    model = MLP(12, 5, hidden=hidden, dropout=dropout)
    x = torch.randn(37, 12)
    fast = mc_dropout_predict(model, x, 9, torch.Generator().manual_seed(5), 1.3, chunk=8, group=4)
    keep = sample_masks(9, hidden, dropout, torch.Generator().manual_seed(5))
    with torch.no_grad():
        slow = torch.stack([torch.softmax(model(x, keeps=keep[t]) / 1.3, dim=-1) for t in range(9)])
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)


def test_training_dropout_masks_keep_units_at_one_minus_p_and_follow_the_seed():
    from labald.learner.learner import _keep_mask

    masks = [_keep_mask((1024, 128), 0.3, np.random.default_rng(7)) for _ in range(2)]
    assert torch.equal(masks[0], masks[1]) and set(masks[0].unique().tolist()) == {0.0, 1.0}
    big = _keep_mask((999, 1001), 0.3, np.random.default_rng(8))  # an odd size: draws cut to length
    assert big.shape == (999, 1001) and abs(float(big.mean()) - 0.7) < 3e-3


def _one_update_at_a_time(batches, rng, total, block, layer_shape, p, device):
    """The reference: each update's batch and masks drawn and moved on their own (`_keep_mask`)."""
    from labald.learner.learner import _keep_mask

    for _ in range(total):
        idx = next(batches)
        keep = _keep_mask((layer_shape[0], len(idx), layer_shape[1]), p, rng).to(device) if p > 0 else [None] * 2
        yield idx.to(device), keep


@pytest.mark.parametrize("block", [1, 3, 7])
def test_masks_drawn_a_block_at_a_time_are_those_drawn_one_update_at_a_time(block):
    """Batches of uneven length (one of 7 rows, 2 x 7 x 5 = 70 mask values: not a whole number of
    64-bit words) in blocks of 1, 3 and 7 updates: every update's indices and masks are equal."""
    from labald.learner.learner import _update_blocks

    def batches():
        generator = torch.Generator().manual_seed(3)
        while True:
            yield from torch.randperm(23, generator=generator).split(8)  # 8, 8, 7

    shape, total = (2, 5), 10
    fast = list(_update_blocks(batches(), np.random.default_rng(4), total, block, shape, 0.3, "cpu"))
    slow = list(_one_update_at_a_time(batches(), np.random.default_rng(4), total, block, shape, 0.3, "cpu"))
    assert len(fast) == len(slow) == total
    for (i_fast, k_fast), (i_slow, k_slow) in zip(fast, slow, strict=True):
        assert torch.equal(i_fast, i_slow) and torch.equal(k_fast, k_slow)


@pytest.mark.parametrize("method", ["ss", "la_bald"])
def test_block_drawn_masks_leave_a_runs_metrics_byte_identical(tmp_path, monkeypatch, method):
    """SS and LA-BALD on digits: the metrics and answers of a run whose learner draws its masks and
    batches a block at a time are those of one drawing them one update at a time."""
    import labald.learner.learner as learner_module
    from labald.metrics import TIMING_COLUMNS
    from labald.runner import run_experiment
    from tests.helpers import make_settings

    def run(where):
        settings = make_settings([f"method={method}", "dataset=digits", "max_steps=3", "learner.mc_samples=20"],
                                 tmp_path / where)
        run_experiment(settings, progress=False)
        metrics = pd.read_csv(output_dir(settings) / "metrics.csv")
        return metrics.drop(columns=[c for c in TIMING_COLUMNS if c in metrics]), \
            (output_dir(settings) / "answers.csv").read_text()

    blocks = run("blocks")
    monkeypatch.setattr(learner_module, "_update_blocks", _one_update_at_a_time)
    single = run("single")
    pd.testing.assert_frame_equal(blocks[0], single[0], check_exact=True)
    assert blocks[1] == single[1]


def test_flat_adam_takes_torch_adams_steps_with_weight_decay():
    torch.manual_seed(2)
    model = MLP(6, 3, hidden=8)
    net = FlatNet(model)
    reference = [p.detach().clone().requires_grad_() for p in model.parameters()]
    opt = torch.optim.Adam(reference, lr=0.01, weight_decay=1e-3)
    state = AdamState.zeros(len(net.theta))
    for _ in range(5):
        grads = [torch.randn_like(p) for p in reference]
        for p, g in zip(reference, grads):
            p.grad = g.clone()
        opt.step()
        net.grad.copy_(torch.cat([g.reshape(-1) for g in grads]))
        adam_step(net.theta, net.grad, state, 0.01, 1e-3)
    assert torch.allclose(net.theta, torch.cat([p.detach().reshape(-1) for p in reference]), atol=1e-6)
    from labald.compat import upgrade_learner_state

    # a checkpoint written by torch's Adam, upgraded to the flat form
    converted = AdamState.from_dict(upgrade_learner_state({"optimizer": opt.state_dict()})["optimizer"])
    assert converted.step == state.step == 5 and converted.lr == 0.01
    assert torch.allclose(converted.exp_avg, state.exp_avg) and torch.allclose(converted.exp_avg_sq, state.exp_avg_sq)


# --- cross-fitting ----------------------------------------------------------------------------


def test_cross_fitted_prior_comes_from_the_model_that_did_not_train_on_the_image(digits):
    """Fold f's model never sees fold f's examples: it equals a plain learner trained without them."""
    x_train, y_train = digits["train"]
    settings = LearnerSettings(mc_samples=10, max_epochs=3, min_updates=0, cross_fit=2)
    cross = CrossFitLearner(settings, 64, 10, seed=4)
    folds = cross.folds(len(y_train))
    assert set(np.unique(folds)) == {0, 1} and np.array_equal(folds, cross.folds(len(y_train)))
    cross.fit(x_train, y_train, *digits["val"], step=0, folds=folds)
    probs = cross.predict_mc(x_train, 1, folds)
    pool = cross.predict_pool(x_train, 1, folds)
    assert torch.equal(pool.take(np.arange(7)), probs[:, :7])
    # the same sums over T; only the reduction's vector lanes may fall differently (K = 10 here, and the
    # lanes follow the buffers' alignment): a few float32 ulps (eps = 1.2e-7), seen up to 2
    torch.testing.assert_close(pool.mean(), probs.mean(0), rtol=4 * torch.finfo(torch.float32).eps, atol=0)
    again = cross.predict_pool(x_train, 2, folds, into=pool)  # overwrites pool's tensor, same values as fresh
    assert again.probs_T_S_K.data_ptr() == pool.probs_T_S_K.data_ptr()
    assert torch.equal(again.dense(), cross.predict_mc(x_train, 2, folds))
    for f in (0, 1):
        alone = MCDropoutLearner(settings, 64, 10, seed=cross.learners[f].seed)
        outside = torch.from_numpy(folds != f)
        alone.fit(x_train[outside], y_train[outside], *digits["val"], step=0)
        mine = torch.from_numpy(np.flatnonzero(folds == f))
        assert torch.equal(probs[:, mine], alone.predict_mc(x_train[mine], 1))
    single = CrossFitLearner(LearnerSettings(mc_samples=10, max_epochs=3, min_updates=0, cross_fit=1), 64, 10, 4)
    assert single.learners[0].seed == 4 and not single.folds(5).any()


def test_the_validation_nll_checks_its_labels_once_and_is_nll():
    from labald.learner.calibration import nll, nll_against

    rng = torch.Generator().manual_seed(9)
    logits, labels = torch.randn(11, 4, generator=rng), torch.randint(0, 4, (11,), generator=rng)
    of = nll_against(labels, 4)
    assert of(logits) == nll(logits, labels)
    with pytest.raises(ValueError, match="labels must lie in"):
        nll_against(torch.tensor([0, 4]), 4)
    with pytest.raises(ValueError, match="logits must be"):
        of(torch.randn(11, 3))
