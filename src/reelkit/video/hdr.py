"""HDR video (BT.2100 PQ or HLG, BT.2020 primaries) tone-mapped to the SDR BT.709 pixels every reelkit model
and every exported image expects.

Phones record HDR by default (HLG with BT.2020 primaries); read as if it were SDR, such video looks flat, dim
and desaturated. FFmpeg converts it with ``zscale`` + ``tonemap``, but PyAV's bundled FFmpeg has no ``zscale``
(the filter that linearises the signal), so reelkit does the same steps here with lookup tables:
linear light in nits (BT.2100 EOTF, or HLG's inverse OETF and OOTF), BT.2020 to BT.709 primaries, the
BT.2390 EETF that rolls the highlights off from the stream's peak (an HDR10 stream's MaxCLL or mastering peak;
1000 nits for HLG and for PQ that declares none) into the SDR range, and the BT.1886 encoding for a display
whose white is HDR reference white (203 nits, BT.2408), as libplacebo and mpv do.
"""

from __future__ import annotations

import math
import struct
from functools import lru_cache

import av
import cv2
import numpy as np

# FFmpeg's AVColorTransferCharacteristic and AVColorPrimaries codes.
TRANSFER_PQ, TRANSFER_HLG = 16, 18
PRIMARIES_BT2020 = 9
TRANSFERS = {TRANSFER_PQ: "pq", TRANSFER_HLG: "hlg"}

SDR_WHITE_NITS = 203.0  # Report ITU-R BT.2408 section 2.1: HDR reference white, shown as SDR white
DEFAULT_PEAK_NITS = 1000.0  # HLG's nominal display peak (BT.2100 Table 5), and the usual PQ mastering peak
BT1886_GAMMA = 2.4

# BT.2100 Table 4: the PQ constants.
PQ_M1, PQ_M2 = 2610 / 16384, 2523 / 4096 * 128
PQ_C1, PQ_C2, PQ_C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
# BT.2100 Table 5: the HLG constants, and the OOTF's luminance weights of BT.2020 RGB.
HLG_A = 0.17883277
HLG_B = 1 - 4 * HLG_A
HLG_C = 0.5 - HLG_A * math.log(4 * HLG_A)
BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], np.float32)
# Report ITU-R BT.2407: linear BT.2020 RGB to linear BT.709 RGB (the inverse of BT.2087's matrix).
BT2020_TO_BT709 = np.array([[1.6605, -0.5876, -0.0728],
                            [-0.1246, 1.1329, -0.0083],
                            [-0.0182, -0.1006, 1.1187]], np.float32)

BT709_TO_BT2020 = np.linalg.inv(BT2020_TO_BT709).astype(np.float32)
SDR_NITS = (np.power(np.arange(256) / 255, BT1886_GAMMA) * SDR_WHITE_NITS).astype(np.float32)  # per 8-bit code

GAIN_STEPS = 4096  # the EETF's gain is tabulated over [0, peak] nits, in steps of a quarter nit at 1000 nits


def pq_eotf(signal: np.ndarray) -> np.ndarray:
    """PQ signal in [0, 1] to display light in nits (BT.2100 Table 4, EOTF)."""
    root = np.power(np.clip(signal, 0, 1), 1 / PQ_M2)
    return 10000 * np.power(np.maximum(root - PQ_C1, 0) / (PQ_C2 - PQ_C3 * root), 1 / PQ_M1)


def pq_inverse_eotf(nits: np.ndarray) -> np.ndarray:
    """Display light in nits to PQ signal (BT.2100 Table 4, inverse EOTF)."""
    power = np.power(np.clip(np.asarray(nits) / 10000, 0, 1), PQ_M1)
    return np.power((PQ_C1 + PQ_C2 * power) / (1 + PQ_C3 * power), PQ_M2)


def hlg_inverse_oetf(signal: np.ndarray) -> np.ndarray:
    """HLG signal in [0, 1] to normalised scene light in [0, 1] (BT.2100 Table 5, OETF^-1)."""
    signal = np.clip(np.asarray(signal, np.float64), 0, 1)
    return np.where(signal <= 0.5, signal ** 2 / 3, (np.exp((signal - HLG_C) / HLG_A) + HLG_B) / 12)


def hlg_oetf(scene: np.ndarray) -> np.ndarray:
    """Normalised scene light to HLG signal (BT.2100 Table 5, OETF)."""
    scene = np.clip(np.asarray(scene), 0, 1)
    return np.where(scene <= 1 / 12, np.sqrt(3 * scene), HLG_A * np.log(np.maximum(12 * scene - HLG_B, 1e-12))
                    + HLG_C)


def hlg_system_gamma(peak_nits: float) -> float:
    """BT.2100 Table 5 note 5e: the OOTF's gamma for a display of this peak (1.2 at 1000 nits)."""
    return 1.2 + 0.42 * np.log10(peak_nits / 1000)


def bt2390_eetf(nits: np.ndarray, source_peak: float, target_peak: float) -> np.ndarray:
    """The reference EETF of Report ITU-R BT.2390-4 (since moved to BT.2408, Annex 5), from [0, source_peak] to
    [0, target_peak] nits, in PQ space: identity below the knee KS = 1.5 maxLum - 0.5, a Hermite spline from the
    knee up to the target peak."""
    if target_peak >= source_peak:
        return np.minimum(nits, source_peak)
    source_top = pq_inverse_eotf(source_peak)
    normalised = np.minimum(pq_inverse_eotf(nits) / source_top, 1.0)
    max_lum = pq_inverse_eotf(target_peak) / source_top
    knee = 1.5 * max_lum - 0.5
    t = (normalised - knee) / (1 - knee)
    spline = ((2 * t ** 3 - 3 * t ** 2 + 1) * knee + (t ** 3 - 2 * t ** 2 + t) * (1 - knee)
              + (-2 * t ** 3 + 3 * t ** 2) * max_lum)
    mapped = np.where(normalised < knee, normalised, spline)
    return pq_eotf(mapped * source_top)


class ToneMapper:
    """Maps HDR pixels of one transfer (``"pq"`` or ``"hlg"``) to SDR BT.709 ones; built once per stream kind
    (see :func:`tone_mapper_for`), as its tables cost a few milliseconds."""

    def __init__(self, transfer: str, bt2020: bool = True, peak_nits: float = DEFAULT_PEAK_NITS) -> None:
        if transfer not in ("pq", "hlg"):
            raise ValueError(f"transfer must be 'pq' or 'hlg', not {transfer!r}")
        self.transfer, self.bt2020, self.peak_nits = transfer, bt2020, peak_nits
        codes = np.arange(65536) / 65535
        # Per 16-bit code: display nits for PQ, normalised scene light for HLG (its OOTF needs the pixel's luminance).
        self._light = (pq_eotf(codes) if transfer == "pq" else hlg_inverse_oetf(codes)).astype(np.float32)
        self._gamma = hlg_system_gamma(peak_nits)
        self._gain_step = peak_nits / (GAIN_STEPS - 1)
        nits = np.arange(GAIN_STEPS) * self._gain_step
        mapped = bt2390_eetf(nits, peak_nits, SDR_WHITE_NITS)
        self._gain = np.divide(mapped, nits, out=np.ones_like(nits), where=nits > 0).astype(np.float32)
        self._luma_tables: dict[tuple[int, bool], np.ndarray] = {}

    def rgb(self, rgb48: np.ndarray) -> np.ndarray:
        """``uint16`` HDR R'G'B' (H x W x 3, full scale) to ``uint8`` SDR BT.709 R'G'B'."""
        light = np.take(self._light, rgb48)  # faster than fancy indexing
        # Per-pixel scale factors commute with the primaries' matrix, so HLG's OOTF gain is applied at the end.
        scale = None
        if self.transfer == "hlg":  # BT.2100 Table 5, OOTF: F_D = L_W * Y_S^(gamma - 1) * E
            scene_luma = cv2.transform(light, BT2020_LUMA[None])
            scale = cv2.pow(np.maximum(scene_luma, 1e-9), self._gamma - 1) * self.peak_nits
        if self.bt2020:
            light = cv2.transform(light, BT2020_TO_BT709)
            np.maximum(light, 0, out=light)  # out-of-gamut colours clip to the BT.709 gamut
        brightest = np.maximum(np.maximum(light[..., 0], light[..., 1]), light[..., 2])
        if scale is not None:
            brightest *= scale
        # The EETF maps each pixel's brightest channel and scales the others alike, which keeps hues.
        index = np.minimum(brightest * (1 / self._gain_step), GAIN_STEPS - 1).astype(np.int32)
        gain = self._gain[index]
        over = brightest > self.peak_nits
        if over.any():
            gain[over] = SDR_WHITE_NITS / brightest[over]
        gain *= 1 / SDR_WHITE_NITS
        if scale is not None:
            gain *= scale
        light *= gain[..., None]
        encoded = cv2.pow(np.minimum(light, 1.0, out=light), 1 / BT1886_GAMMA)  # BT.1886's inverse, black at 0
        return cv2.convertScaleAbs(encoded, alpha=255)

    def luma_table(self, bits: int, full_range: bool) -> np.ndarray:
        """SDR luma (``uint8``, limited range like an SDR video's luma plane) for each HDR luma code: the
        tone-mapped grey of that luma."""
        key = (bits, full_range)
        if key not in self._luma_tables:
            codes = np.arange(1 << bits, dtype=np.float64)
            scale = 1 << (bits - 8)
            signal = codes / ((1 << bits) - 1) if full_range else (codes - 16 * scale) / (219 * scale)
            grey = np.repeat(np.round(np.clip(signal, 0, 1) * 65535).astype(np.uint16)[:, None, None], 3, axis=2)
            sdr = self.rgb(grey)[:, 0, 0].astype(np.float64) / 255
            self._luma_tables[key] = np.round(16 + 219 * sdr).astype(np.uint8)
        return self._luma_tables[key]



@lru_cache(maxsize=8)
def _tone_mapper(transfer: str, bt2020: bool, peak_nits: float) -> ToneMapper:
    return ToneMapper(transfer, bt2020, peak_nits)


def tone_mapper_for(frame: av.VideoFrame) -> ToneMapper | None:
    """The tone mapper for a frame tagged PQ or HLG, or None for SDR."""
    transfer = TRANSFERS.get(frame.color_trc)
    if transfer is None:
        return None
    peak = content_peak_nits(frame) if transfer == "pq" else DEFAULT_PEAK_NITS  # HLG is relative to its display
    return _tone_mapper(transfer, frame.color_primaries == PRIMARIES_BT2020, peak)


def content_peak_nits(frame: av.VideoFrame) -> float:
    """The brightest light a PQ stream says it holds: its MaxCLL (CTA-861.3 content light level), else its
    mastering display's peak (SMPTE ST 2086), else 1000 nits. FFmpeg hands both to every decoded frame."""
    light_level = mastering_peak = None
    for entry in frame.side_data:
        # PyAV 18.1.1 iterates side data as a mapping, by type; 18.1.0 iterated the entries themselves.
        side = entry if hasattr(entry, "type") else frame.side_data[entry]
        kind = side.type.name
        if kind == "CONTENT_LIGHT_LEVEL":
            data = bytes(side)
            light_level = struct.unpack_from("<I", data)[0] if len(data) >= 8 else None  # AVContentLightMetadata
        elif kind == "MASTERING_DISPLAY_METADATA":
            data = bytes(side)
            if len(data) >= 88:  # AVMasteringDisplayMetadata: max_luminance (a rational) at 72, has_luminance at 84
                numerator, denominator = struct.unpack_from("<2i", data, 72)
                if struct.unpack_from("<i", data, 84)[0] and denominator > 0:
                    mastering_peak = numerator / denominator
    for peak in (light_level, mastering_peak):
        if peak is not None and SDR_WHITE_NITS < peak <= 10000:
            return float(peak)
    return DEFAULT_PEAK_NITS


def hdr_from_sdr(rgb: np.ndarray, transfer: str) -> np.ndarray:
    """SDR BT.709 R'G'B' (``uint8``) to HDR BT.2020 R'G'B' (``uint16``, full scale) the way BT.2408 places SDR
    in HDR: SDR white at reference white (203 nits). The inverse of :class:`ToneMapper` below its highlight
    knee; reelkit uses it to make HDR test and demo videos."""
    if transfer not in ("pq", "hlg"):
        raise ValueError(f"transfer must be 'pq' or 'hlg', not {transfer!r}")
    nits = SDR_NITS[rgb]
    nits = np.maximum(cv2.transform(nits, BT709_TO_BT2020), 0)
    if transfer == "pq":
        signal = pq_inverse_eotf(nits)
    else:  # BT.2100 Table 5: the OOTF inverted, then the OETF
        gamma = hlg_system_gamma(DEFAULT_PEAK_NITS)
        scene_luma = cv2.pow(np.maximum(cv2.transform(nits, BT2020_LUMA[None]) / DEFAULT_PEAK_NITS, 1e-12), 1 / gamma)
        signal = hlg_oetf(nits / (DEFAULT_PEAK_NITS * cv2.pow(scene_luma, gamma - 1))[..., None])
    return (signal * 65535 + 0.5).astype(np.uint16)
