"""Figures and tables from run directories: `python -m labald.figures` or `make figures`."""

from labald.figures.load import FiguresError, load_runs
from labald.figures.make import make_figures

__all__ = ["FiguresError", "load_runs", "make_figures"]
