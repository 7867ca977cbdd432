"""ikd: interactive knowledge distillation ("Talking Models", TD), reproduced.

Layout: `core/` is the method and everything that knows no dataset (losses, E*/D*, method
classes, the training loop, the results store, choices, tables, figures, worker
processes); each track (`movielens/`, ...) owns its data, models, teacher, experiment
and tables. `report` is what the notebooks call. See README.md for a map.
"""
