"""ikd: interactive knowledge distillation ("Talking Models", TD), reproduced.

Start at `report` (what the notebooks call) or `experiments.MovieLensExperiment`; the
method itself is `losses.py` + `methods.TalkingModels`; see README.md for a map.
"""
