"""The ViT image-classification track: CIFAR-10, CIFAR-100, ImageNet (the paper's Tables 4, 6, 9)."""
