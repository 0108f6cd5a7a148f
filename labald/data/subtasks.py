"""The paper's ImageNet100 subtasks and their group in Liao et al.'s AMT worker data."""

SUBTASKS: dict[str, list[str]] = {
    "dog": (
        "n02105505 n02113978 n02100583 n02087046 n02086910 n02108089 n02106550 n02089973 "
        "n02085620 n02086240 n02099849 n02091831 n02089867 n02090622 n02113799 n02104029 "
        "n02093428 n02107142 n02109047"
    ).split(),
    "vertebrate": (
        "n02138441 n02326432 n01558993 n02009229 n02123045 n01855672 n02488291 n02396427 "
        "n01820546 n01735189 n02116738 n02483362 n02114855 n01729322 n02018207 n01749939 "
        "n01692333 n02119022"
    ).split(),
    "insect_fungus": (
        "n13037406 n07715103 n01980166 n02172182 n07714571 n01983481 n13040303 n02259212 "
        "n01978455 n01773797 n07831146 n02231487 n07836838"
    ).split(),
    "commodity": (
        "n04517823 n03085013 n02877765 n03764736 n03584829 n03787032 n02869837 n04136333 "
        "n03777754 n04493381 n04026417 n03062245 n04111531 n03594734 n03259280 n03379051"
    ).split(),
}

# Group ids of `group_workers.json` in Liao et al.'s release: 0 dog, 1 vertebrate, 2 insect_fungus, 4 commodity.
AMT_GROUP: dict[str, str] = {"dog": "0", "vertebrate": "1", "insect_fungus": "2", "commodity": "4"}

# Mean crowd accuracy per subtask, about that of its AMT-derived crowd; used by the synthetic crowd when
# the AMT file is absent.
CROWD_ACCURACY: dict[str, float] = {
    "dog": 0.45,
    "vertebrate": 0.75,
    "insect_fungus": 0.69,
    "commodity": 0.74,
}
