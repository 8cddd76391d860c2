"""GAN engine: the KDD (kernel density discrimination) loss beside hinge and non-saturating losses,
SN-GAN / SA-GAN / BigGAN-style networks, a trainer and FID/KID in a classifier's feature space."""

from reelkit.gan.losses import LOSSES, AdversarialLoss, kdd_d_loss, kdd_g_loss, kde_log_ratio
from reelkit.gan.models import CONFIGS, create_gan
from reelkit.gan.train import GANTrainConfig, generate, train_gan

__all__ = ["LOSSES", "AdversarialLoss", "kdd_d_loss", "kdd_g_loss", "kde_log_ratio", "CONFIGS", "create_gan",
           "GANTrainConfig", "generate", "train_gan"]
