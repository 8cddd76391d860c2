"""Subject segmentation: reelkit's scene generator (:mod:`reelkit.segment.data`) and its segmenters
(:mod:`reelkit.segment.layered`, the perturbed layered GAN)."""
