"""MOVE (Bielski & Favaro, NeurIPS 2022): unsupervised segmentation of movable objects on self-supervised ViT
features, with reelkit's own DINO and MAE backbones (:mod:`.vit`, :mod:`.dino`, :mod:`.mae`)."""
