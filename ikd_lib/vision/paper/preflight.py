"""Before any compute at the paper profile: are the full datasets and the teacher's checkpoint
on this machine? Every missing piece is named at once, with how to provide it.

    python -m ikd_lib.vision.paper.preflight --profile paper              # exit 2 and a message if not
    python -m ikd_lib.vision.paper.preflight --profile paper --download   # fetch what can be fetched

Nothing here goes online unless asked (--download): a cluster node without internet access
should fail in seconds, not after a download times out (ikd_lib/launch/preflight.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ...launch.preflight import SetupMissing, check as check_problems
from ..profiles import get_profile
from ..teacher import CHECKPOINT_ENV  # the variable the teacher's loader reads
from .stream import CIFAR, IMAGENET_ENV, cifar_root

CHECKPOINT_FILE = "model.safetensors"  # what timm's hub repositories hold


def hub_repo(timm_name: str) -> str:
    """The Hugging Face repository timm loads `timm_name` from (e.g. timm/vit_base_patch16_224.augreg_in21k)."""
    import timm

    cfg = timm.models.get_pretrained_cfg(timm_name)
    return cfg.hf_hub_id if cfg is not None and cfg.hf_hub_id else f"timm/{timm_name}"


def checkpoint_file(timm_name: str) -> str | None:
    """The teacher's weights on this machine: IKD_VIT_CHECKPOINT, else timm's file in the local
    Hugging Face cache; None when neither is there."""
    local = os.environ.get(CHECKPOINT_ENV)
    if local:
        return local if Path(local).is_file() else None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(hub_repo(timm_name), CHECKPOINT_FILE)
    return cached if isinstance(cached, str) else None


def missing(datasets, timm_name: str | None) -> list[str]:
    """One paragraph per missing piece: what, where it was looked for, how to provide it."""
    problems = []
    for name in datasets:
        if name in CIFAR:
            folder = cifar_root() / CIFAR[name][1]
            if not folder.is_dir():
                problems.append(
                    f"{name}: no {folder}. Download it with `make paper-data` (torchvision, 170 MB each), "
                    f"or put torchvision's {CIFAR[name][1]} folder there (IKD_CACHE_DIR moves <cache>)."
                )
        elif name == "imagenet":
            root = os.environ.get(IMAGENET_ENV)
            if not root or not all((Path(root) / s).is_dir() for s in ("train", "val")):
                problems.append(
                    f"imagenet: {IMAGENET_ENV} is {'unset' if not root else repr(root) + ' without train/ and val/'}. "
                    "Download ILSVRC-2012 (image-net.org, after registering: the train and val tar files, "
                    "about 150 GB), unpack it as train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (the val images "
                    f"sorted into class folders, e.g. with valprep.sh) and set {IMAGENET_ENV} to that folder."
                )
        else:
            problems.append(f"{name}: not a dataset of the paper profile (cifar10, cifar100, imagenet)")
    if timm_name:
        local = os.environ.get(CHECKPOINT_ENV)
        if checkpoint_file(timm_name) is None:
            problems.append(
                f"teacher {timm_name}: "
                + (
                    f"{CHECKPOINT_ENV}={local} is not a file. "
                    if local
                    else f"{CHECKPOINT_ENV} is unset and the Hugging Face cache has no {hub_repo(timm_name)}. "
                )
                + f"Download it with `make paper-data` (350 MB from the Hugging Face hub), or set "
                f"{CHECKPOINT_ENV} to a local {CHECKPOINT_FILE} (or .pth) of its weights."
            )
    return problems


def check(datasets, timm_name: str | None) -> None:
    """Raise SetupMissing naming everything that is missing (nothing: return)."""
    check_problems(
        missing(datasets, timm_name),
        "The paper profile needs the full datasets and the pre-trained teacher on this machine",
    )


def download(datasets, timm_name: str | None) -> None:
    """Fetch what can be fetched without a login: CIFAR (torchvision) and the checkpoint (the hub)."""
    import torchvision

    for name in datasets:
        if name in CIFAR:
            cls = getattr(torchvision.datasets, CIFAR[name][0])
            for train in (True, False):
                cls(cifar_root(), train=train, download=True)
    if timm_name and not os.environ.get(CHECKPOINT_ENV):
        from huggingface_hub import hf_hub_download

        print(f"teacher: {hf_hub_download(hub_repo(timm_name), CHECKPOINT_FILE)}")
    if "imagenet" in datasets and not os.environ.get(IMAGENET_ENV):
        print("imagenet cannot be downloaded without a login: see the message of a plain preflight")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--datasets", nargs="*", help="default: the profile's")
    parser.add_argument("--download", action="store_true", help="fetch CIFAR and the checkpoint first")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    datasets = tuple(args.datasets or profile.datasets)
    if args.download:
        download(datasets, profile.vit.timm_name)
    try:
        check(datasets, profile.vit.timm_name)
    except SetupMissing as e:
        print(e, file=sys.stderr)
        return 2
    print(f"profile {profile.name}: datasets {', '.join(datasets)} and the teacher are on this machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
