"""torchvision-style transforms of ONE sample (a PIL image, then a Tensor after ToTensor), for
`ImageFolder(root, transform=...)`; the batch transforms of `chainrule.data.transforms` stay for
in-memory arrays. Same names, arguments, parameter draws and Pillow calls as torchvision.transforms.

Random draws come from `chainrule.utils.data.current_rng()`: inside a DataLoader that is the batch's
own generator, so an augmented epoch is the same with 0 or N workers and after a resume.

    from chainrule.data.vision import transforms as T
    train_tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                          T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Sequence

from ...utils.data.worker import current_rng
from . import functional as F


def _size(size: int | Sequence[int], who: str) -> tuple[int, int]:
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) in (1, 2) and all(isinstance(s, numbers.Integral) for s in size):
        return (int(size[0]), int(size[-1]))
    raise ValueError(f"{who}: size must be an int or a sequence (h, w) of ints, got {size!r}")


def _randint(low: int, high: int) -> int:
    """An int in [low, high), as torch.randint(low, high)."""
    return int(current_rng().integers(low, high))


def _uniform(a: float, b: float) -> float:
    return float(current_rng().uniform(a, b))


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        return "Compose(\n" + "".join(f"    {t!r}\n" for t in self.transforms) + ")"


class ToTensor:
    """PIL image / uint8 (H, W, C) -> float32 Tensor (C, H, W) in [0, 1]."""

    def __call__(self, pic: Any):
        return F.to_tensor(pic)

    def __repr__(self) -> str:
        return "ToTensor()"


class PILToTensor:
    """PIL image -> uint8 Tensor (C, H, W), unscaled."""

    def __call__(self, pic: Any):
        return F.pil_to_tensor(pic)


class Normalize:
    """Per channel (x - mean) / std on a float Tensor (C, H, W)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False):
        self.mean, self.std, self.inplace = list(mean), list(std), inplace

    def __call__(self, tensor: Any):
        return F.normalize(tensor, self.mean, self.std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Resize:
    """size int: the shorter side becomes `size` (aspect ratio kept); (h, w): exactly that."""

    def __init__(self, size: int | Sequence[int], interpolation: Any = None, max_size: int | None = None,
                 antialias: bool | None = True):
        if not isinstance(size, int):
            _size(size, "Resize")
        self.size, self.interpolation, self.max_size = size, interpolation, max_size

    def __call__(self, img: Any):
        return F.resize(img, self.size, self.interpolation, self.max_size)

    def __repr__(self) -> str:
        return f"Resize(size={self.size})"


class CenterCrop:
    """The central (h, w) box (padded with zeros where the image is smaller)."""

    def __init__(self, size: int | Sequence[int]):
        self.size = _size(size, "CenterCrop")

    def __call__(self, img: Any):
        return F.center_crop(img, self.size)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class RandomCrop:
    """A random (h, w) box, after optional padding (pad_if_needed pads sides shorter than the crop)."""

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, fill: int = 0, padding_mode: str = "constant"):
        self.size = _size(size, "RandomCrop")
        self.padding, self.pad_if_needed, self.fill, self.padding_mode = padding, pad_if_needed, fill, padding_mode

    @staticmethod
    def get_params(img: Any, output_size: tuple[int, int]) -> tuple[int, int, int, int]:
        h, w = F.size_hw(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        return _randint(0, h - th + 1), _randint(0, w - tw + 1), th, tw

    def __call__(self, img: Any):
        img = F.to_pil(img)
        if self.padding is not None:
            p = [self.padding] * 4 if isinstance(self.padding, int) else list(self.padding)
            p = p * 2 if len(p) == 2 else p
            img = F.pad(img, p, self.fill, self.padding_mode)
        h, w = F.size_hw(img)
        if self.pad_if_needed and w < self.size[1]:
            d = self.size[1] - w
            img = F.pad(img, (d, 0, d, 0), self.fill, self.padding_mode)  # torchvision pads both sides by d
        if self.pad_if_needed and h < self.size[0]:
            d = self.size[0] - h
            img = F.pad(img, (0, d, 0, d), self.fill, self.padding_mode)
        return F.crop(img, *self.get_params(img, self.size))

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror left-right with probability p."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, img: Any):
        return F.hflip(img) if current_rng().random() < self.p else F.to_pil(img)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomResizedCrop:
    """A random box of `scale` x the area and aspect ratio in `ratio` (log-uniform), resized to size."""

    def __init__(self, size: int | Sequence[int], scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0), interpolation: Any = None,
                 antialias: bool | None = True):
        self.size = _size(size, "RandomResizedCrop")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError(f"RandomResizedCrop: scale and ratio should be of kind (min, max), got {scale}, {ratio}")
        self.scale, self.ratio, self.interpolation = tuple(scale), tuple(ratio), interpolation

    @staticmethod
    def get_params(img: Any, scale: Sequence[float], ratio: Sequence[float]) -> tuple[int, int, int, int]:
        """(top, left, height, width): 10 tries at a random box, then a central crop (torchvision's)."""
        height, width = F.size_hw(img)
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * _uniform(scale[0], scale[1])
            aspect = math.exp(_uniform(*log_ratio))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return _randint(0, height - h + 1), _randint(0, width - w + 1), h, w
        in_ratio = width / height
        if in_ratio < min(ratio):
            w, h = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            h, w = height, int(round(height * max(ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img: Any):
        i, j, h, w = self.get_params(img, self.scale, self.ratio)
        return F.resized_crop(img, i, j, h, w, self.size, self.interpolation)

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


def _jitter_range(value: Any, name: str, center: float = 1.0, bound: tuple[float, float] = (0, math.inf),
                  clip_first_on_zero: bool = True) -> tuple[float, float] | None:
    """torchvision's ColorJitter._check_input: v -> [center - v, center + v]; (lo, hi) kept; 0 -> None."""
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"If {name} is a single number, it must be non negative.")
        value = [center - float(value), center + float(value)]
        if clip_first_on_zero:
            value[0] = max(value[0], 0.0)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        value = [float(value[0]), float(value[1])]
    else:
        raise TypeError(f"{name} should be a single number or a list/tuple with length 2.")
    if not bound[0] <= value[0] <= value[1] <= bound[1]:
        raise ValueError(f"{name} values should be between {bound}, but got {value}.")
    return None if value[0] == value[1] == center else (value[0], value[1])


class ColorJitter:
    """Random brightness, contrast, saturation and hue changes, applied in a random order."""

    def __init__(self, brightness: Any = 0, contrast: Any = 0, saturation: Any = 0, hue: Any = 0):
        self.brightness = _jitter_range(brightness, "brightness")
        self.contrast = _jitter_range(contrast, "contrast")
        self.saturation = _jitter_range(saturation, "saturation")
        self.hue = _jitter_range(hue, "hue", center=0, bound=(-0.5, 0.5), clip_first_on_zero=False)

    @staticmethod
    def get_params(brightness, contrast, saturation, hue):
        """(order of the 4 changes, and each factor or None)."""
        order = current_rng().permutation(4).tolist()
        pick = lambda r: None if r is None else _uniform(r[0], r[1])  # noqa: E731
        return order, pick(brightness), pick(contrast), pick(saturation), pick(hue)

    def __call__(self, img: Any):
        img = F.to_pil(img)
        order, b, c, s, h = self.get_params(self.brightness, self.contrast, self.saturation, self.hue)
        for k in order:
            if k == 0 and b is not None:
                img = F.adjust_brightness(img, b)
            elif k == 1 and c is not None:
                img = F.adjust_contrast(img, c)
            elif k == 2 and s is not None:
                img = F.adjust_saturation(img, s)
            elif k == 3 and h is not None:
                img = F.adjust_hue(img, h)
        return img

    def __repr__(self) -> str:
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue})")
