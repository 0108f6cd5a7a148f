"""Stopping rules decided from the metrics rows (SPEC 6)."""

from labald.stopping import StoppingSettings, decide


def _rows(eligible, confident=None, per_image=None):
    confident = confident or [0] * len(eligible)
    per_image = per_image or [0.1 * s for s in range(len(eligible))]
    return [{"step": s, "n_eligible": e, "n_confident": c, "annotations_per_image": a}
            for s, (e, c, a) in enumerate(zip(eligible, confident, per_image))]


def test_unconfident_stops_below_a_tenth_of_the_batch():
    rule = StoppingSettings("unconfident")
    assert decide(_rows([500, 10]), rule, 100, 1000).stop is None
    assert "fewer than 10" in decide(_rows([500, 9]), rule, 100, 1000).stop


def test_budget_goes_on_in_the_over_phase_until_spent():
    rule = StoppingSettings("budget", annotations_per_image=1.0)
    d = decide(_rows([500, 5, 300]), rule, 100, 1000)
    assert d.stop is None and d.phase == "over"
    assert decide(_rows([500, 300]), rule, 100, 1000).phase == "label"
    assert "budget" in decide(_rows([500, 5], per_image=[0.5, 1.0]), rule, 100, 1000).stop


def test_plateau_needs_patience_steps_without_growth():
    rule = StoppingSettings("plateau", patience=3)
    assert decide(_rows([500] * 4, confident=[1, 5, 5, 5]), rule, 100, 1000).stop is None
    assert "plateau" in decide(_rows([500] * 5, confident=[1, 5, 5, 5, 4]), rule, 100, 1000).stop


def test_max_steps_always_applies():
    assert "max_steps" in decide(_rows([500] * 4), StoppingSettings("plateau"), 100, 3).stop
