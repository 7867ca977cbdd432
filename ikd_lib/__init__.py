"""ikd: interactive knowledge distillation ("Talking Models", TD), reproduced.

Layout: `core/` is the method and everything that knows no dataset (losses, E*/D*, method
classes, the training loop, the results store, choices, tables, figures, worker
processes); each track (`movielens/`, ...) owns its data, models, teacher, experiment
and tables. `report` is what the notebooks call. See README.md for a map.
"""

# First, before anything imports torch: the floating-point pins (core/determinism.py).
from .core.determinism import apply_pins, set_pinned_env

set_pinned_env()
apply_pins()
