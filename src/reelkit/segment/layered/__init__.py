"""Layered perturbed GAN segmentation (Bielski & Favaro, NeurIPS 2019): a generator of background, foreground
and mask trained with a random foreground shift, and an encoder against the frozen generator as segmenter.

    from reelkit.segment.layered import LayeredSegmenter
    segmenter = LayeredSegmenter.from_name("layered_small")     # shipped weights
    mask = segmenter(image_rgb_uint8)                           # (H, W) float in [0, 1]
"""

from reelkit.segment.layered.models import (CONFIGS, Discriminator, Encoder, LayeredConfig, LayeredGenerator,
                                            LayeredModel, Layers, binarisation_loss, create_layered, mask_size_loss,
                                            perturb, random_offsets, shift_images)
from reelkit.segment.layered.pipeline import LayeredSegmenter, overlay, read_image, segment_files
from reelkit.segment.layered.train import LayeredTrainConfig, LayeredTrainResult, train_layered

__all__ = ["CONFIGS", "Discriminator", "Encoder", "LayeredConfig", "LayeredGenerator", "LayeredModel", "Layers",
           "binarisation_loss", "create_layered", "mask_size_loss", "perturb", "random_offsets", "shift_images",
           "LayeredSegmenter", "overlay", "read_image", "segment_files", "LayeredTrainConfig", "LayeredTrainResult",
           "train_layered"]
