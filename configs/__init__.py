"""labald's Hydra configs: this folder is the package labald.configs once installed (pyproject.toml)."""
