"""`make reproduce`'s plan: the studies, their run directories and the A/A reruns, without running."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from labald.identity import output_dir

ROOT = Path(__file__).resolve().parents[1]


def _reproduce():
    spec = importlib.util.spec_from_file_location("reproduce", ROOT / "scripts" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_full_plan_has_every_study_and_the_ramp_only_as_its_own_protocol_study(tmp_path):
    reproduce = _reproduce()
    groups = reproduce.plan(reproduce.parse_args(["--results", str(tmp_path)]))
    runs = {g.study: 0 for g in groups}
    for g in groups:
        runs[g.study] += len(g.run_dirs(tmp_path))
    assert runs == {"main": 4 * 7 * 14, "ramp": 4 * 5 * 6, "aa": 2 * 4 * 6, "imbalance": 4 * 4 * 14, "over": 4 * 4 * 2}
    aa = [g for g in groups if g.study == "aa"]
    assert [g.overrides[-1] for g in aa] == ["rerun=1"]
    dirs = {d.parent.name for g in aa for d in g.run_dirs(tmp_path)}
    assert dirs == {f"{m}+n_per_class=200+rerun=1" for m in ("j_bald", "la_bald")}
    ramp = {d.parent.name for g in groups if g.study == "ramp" for d in g.run_dirs(tmp_path)}
    assert ramp == {f"{m}+n_per_class=200+batch_ramp=1" for m in ("ss", "j_bald", "la_bald", "elr", "elr_pooled")}
    main = {d.parent.name for g in groups if g.study == "main" for d in g.run_dirs(tmp_path)}
    assert main == {f"{m}+n_per_class=200" for m in ("ss", "rand_i_greedy_w", "j_bald", "la_bald", "elr", "elr_pooled", "oracle")}


def test_quick_plan_reruns_once(tmp_path):
    reproduce = _reproduce()
    groups = reproduce.plan(reproduce.parse_args(["--quick", "--results", str(tmp_path)]))
    assert {g.setting.get("rerun") for g in groups if g.study == "aa"} == {1}  # one group per pool size


def test_paper_plan_is_the_paper_scale_with_ours_at_the_same_protocol(tmp_path):
    reproduce = _reproduce()
    groups = reproduce.plan(reproduce.parse_args(["--paper", "--results", str(tmp_path)]))
    assert [g.study for g in groups] == ["main", "imbalance"]
    assert all(g.setting["dataset"]["n_per_class"] == 1300 for g in groups)
    assert [g.methods for g in groups] == [["ss", "rand_i_greedy_w", "j_bald", "la_bald", "elr"]] * 2
    assert all(g.setting.get("batch_ramp") is None for g in groups)  # every sampler asks B pairs a step
    assert sum(len(g.run_dirs(tmp_path)) for g in groups) == 2 * 5 * 4 * 14


def test_the_estimate_uses_finished_runs_of_the_same_study_else_the_pool_size(tmp_path):
    reproduce = _reproduce()
    args = reproduce.parse_args(["--studies", "main", "--datasets", "dog", "commodity", "--seeds", "2",
                                 "--methods", "ss", "--results", str(tmp_path)])
    (group,) = reproduce.plan(args)
    dog_dirs = [d for d in group.run_dirs(tmp_path) if d.parent.parent.name == "dog"]
    dog_dirs[0].mkdir(parents=True)
    (dog_dirs[0] / "summary.json").write_text('{"wall_seconds": 30.0}')
    seconds, how = reproduce.estimate_seconds([group], tmp_path, jobs=2)
    commodity = 2 * reproduce.SECONDS_PER_IMAGE * 200 * 16  # two runs of 16 classes x 200 images
    assert seconds == (30.0 + commodity) / 2  # one dog run left at the finished one's time
    assert how.startswith("1 run(s) at the mean wall time") and "2 at" in how


def test_a_resumed_sweep_launches_only_unfinished_runs_seed_by_seed(tmp_path):
    reproduce = _reproduce()
    args = reproduce.parse_args(["--studies", "main", "--datasets", "dog", "commodity", "--seeds", "3",
                                 "--methods", "ss", "j_bald", "elr@batch_ramp=1", "--results", str(tmp_path)])
    plain, ramped = reproduce.plan(args)
    assert ramped.overrides[-1] == "batch_ramp=1" and ramped.methods == ["elr"]
    for d in plain.run_dirs(tmp_path):  # every seed of dog, and seed 0 of commodity's SS, kept without checkpoints
        if d.parent.parent.name == "dog" or (d.parent.name.startswith("ss+") and d.name == "seed=0"):
            d.mkdir(parents=True)
            (d / "summary.json").write_text("{}")
    cmds = reproduce.commands(plain, tmp_path, jobs=2, launcher=False)
    sweeps = sorted(tuple(a for a in c if a.split("=")[0] in ("seed", "dataset", "method")) for c in cmds)
    assert sweeps == [("seed=0,1,2", "dataset=commodity", "method=j_bald"),
                      ("seed=1,2", "dataset=commodity", "method=ss")]
    every = reproduce.commands(plain, tmp_path, jobs=2, launcher=False, every_run=True)  # --force
    assert [c[3:6] for c in every] == [["seed=0,1,2", "dataset=dog,commodity", "method=ss,j_bald"]]


def test_overrides_name_the_runs_they_change(tmp_path):
    reproduce = _reproduce()
    args = reproduce.parse_args(["--studies", "main", "--datasets", "digits", "--seeds", "1", "--methods", "ss",
                                 "--override", "workers.dynamics=learning", "--results", str(tmp_path)])
    (group,) = reproduce.plan(args)
    assert [d.parent.name for d in group.run_dirs(tmp_path)] == ["ss+workers.dynamics=learning"]


def test_every_planned_run_directory_is_the_one_run_py_writes(tmp_path):
    """The dynamics study's groups (crews, EM that forgets, a ramped sampler, expert prices): each
    run directory the plan watches is the directory run.py gives those overrides."""
    from tests.helpers import make_settings

    reproduce = _reproduce()
    args = reproduce.parse_args(["--studies", "dynamics", "--datasets", "dog", "--seeds", "1", "--methods", "ss",
                                 "elr@batch_ramp=1", "--dynamics", "static", "spammers", "--results", str(tmp_path)])
    groups = reproduce.plan(args)
    assert len(groups) == 2 * 2 * 2  # crews x (paper's EM, forgetting) x (plain, ramped)
    for group in groups:
        for method, directory in zip(group.methods, group.run_names(), strict=True):
            settings = make_settings([f"method={method}", "dataset=dog", "seed=0", *group.overrides], tmp_path)
            assert output_dir(settings).parent.name == directory
    names = {d.parent.name for g in groups for d in g.run_dirs(tmp_path)}
    assert ("elr+n_per_class=200+batch_ramp=1+aggregation.forgetting=0.8+workers.cost_expert=5"
            "+workers.spammer_share=0.2") in names


def test_a_dynamics_arm_of_samplers_per_unit_of_money_with_the_papers_em_only(tmp_path):
    """`--forgetting` with no value: the paper's EM only; `la_bald@acquisition.per_cost=true` is one
    group whose run directories are run.py's."""
    from tests.helpers import make_settings

    reproduce = _reproduce()
    args = reproduce.parse_args(["--studies", "dynamics", "--datasets", "dog", "--seeds", "1", "--methods",
                                 "la_bald@acquisition.per_cost=true", "j_bald@acquisition.per_cost=true",
                                 "--dynamics", "static", "--forgetting", "--results", str(tmp_path)])
    (group,) = reproduce.plan(args)
    names = [d.parent.name for d in group.run_dirs(tmp_path)]
    for method, directory in zip(group.methods, names, strict=True):
        settings = make_settings([f"method={method}", "dataset=dog", "seed=0", *group.overrides], tmp_path)
        assert output_dir(settings).parent.name == directory and settings.acquisition.per_cost
    assert "la_bald+n_per_class=200+acquisition.per_cost=true+workers.cost_expert=5" in names


def test_group_choices_in_overrides_name_the_runs_as_run_py_does(tmp_path):
    """`--override` may choose a config group (`learner=none`, `workers=synthetic`, `stopping=cost`
    with its own key): the plan names each run as run.py does, so resume finds it."""
    from tests.helpers import make_settings

    reproduce = _reproduce()
    for overrides in (["learner=none"], ["workers=synthetic"], ["stopping=cost", "stopping.cost_per_image=2"]):
        args = reproduce.parse_args(["--studies", "main", "--datasets", "dog", "--seeds", "1", "--methods", "ss",
                                     "--override", *overrides, "--results", str(tmp_path)])
        (group,) = reproduce.plan(args)
        settings = make_settings(["method=ss", "dataset=dog", "seed=0", *group.overrides], tmp_path)
        assert [d.parent.name for d in group.run_dirs(tmp_path)] == [output_dir(settings).parent.name]
    assert output_dir(settings).parent.name == "ss+cost=2+n_per_class=200"


def test_an_override_may_not_choose_the_method_or_dataset(tmp_path):
    import pytest

    reproduce = _reproduce()
    args = reproduce.parse_args(["--studies", "main", "--override", "dataset=digits", "--results", str(tmp_path)])
    with pytest.raises(SystemExit, match="--datasets"):
        reproduce.plan(args)


def test_real_plan_runs_the_real_subtasks_and_their_surrogates_where_run_py_writes(tmp_path):
    """--real: the paper's four, ELR and ELR-pooled on dog_real, vertebrate_real and labelme, and on the surrogate
    dog and vertebrate subtasks restricted to the real classes at the real pool size; every planned
    directory is the one run.py writes."""
    from labald.data.real import SUBTASKS
    from tests.helpers import make_settings

    reproduce = _reproduce()
    groups = reproduce.plan(reproduce.parse_args(["--real", "--results", str(tmp_path)]))
    assert [(g.study, g.datasets) for g in groups] == [
        ("real", ["dog_real"]), ("real", ["vertebrate_real"]), ("real", ["labelme"]), ("surrogate", ["dog"]),
        ("surrogate", ["vertebrate"])]
    assert all(g.seeds == list(range(reproduce.REAL_SEEDS)) for g in groups)
    assert all(g.methods == ["ss", "rand_i_greedy_w", "j_bald", "la_bald", "elr", "elr_pooled"] for g in groups)
    for group, n in zip(groups[3:], (200, 490), strict=True):
        dataset = group.datasets[0]
        assert f"dataset.wnids=[{','.join(SUBTASKS[dataset])}]" in group.overrides
        for method, directory in zip(group.methods, group.run_names(), strict=True):
            settings = make_settings([f"method={method}", f"dataset={dataset}", "seed=0", *group.overrides], tmp_path)
            assert output_dir(settings).parent.name == directory
            assert settings.dataset.wnids == SUBTASKS[dataset] and settings.dataset.n_per_class == n
    assert {d.parent.name for d in groups[0].run_dirs(tmp_path)} == {f"{m}+n_per_class=200" for m in groups[0].methods}
    for group in groups[1:3]:  # every image of vertebrate_real and labelme
        assert {d.parent.name for d in group.run_dirs(tmp_path)} == set(group.methods)
