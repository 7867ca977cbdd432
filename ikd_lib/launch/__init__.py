"""Runs handed to GPUs, knowing no track: spec files (spec.py), the launchers that start them
(launchers.py: torchrun on this node, SLURM through submitit), the plan and its GPU-hours from a
calibration (plan.py), the orchestrator that runs a profile's waves and brings each run's
result into the results store (launched.py), and the preflight's report of what is missing
(preflight.py). A track supplies the rest: what a spec holds, the module that runs one, its data
and its checks (the ViT's: ikd_lib/vision/paper/)."""
