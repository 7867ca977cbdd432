"""The ViT track at the paper's scale, on GPUs: its DDP trainer (ddp.py), what torchrun runs for
each spec (run.py), the datasets streamed from disk (stream.py), the preflight of data and
checkpoint (preflight.py), the GPU check and calibration (gpu_check.py) and the launched
experiment (experiment.py). The machinery that knows no track is ikd_lib/launch/."""
