"""labald: online image-labeling simulator and task samplers (SS, Rand-I+Greedy-W, J-BALD, LA-BALD)."""

__version__ = "0.1.0"
