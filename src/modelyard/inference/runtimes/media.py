"""Decoding request bytes: audio (WAV/FLAC/OGG via soundfile, WAV via stdlib) and images (PIL)."""

from __future__ import annotations

import io
import wave

import numpy as np

from modelyard.inference.errors import InvalidInput


def _wav_stdlib(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as wav:
        rate = wav.getframerate()
        width = wav.getsampwidth()
        channels = wav.getnchannels()
        frames = wav.readframes(wav.getnframes())
    if width == 1:
        samples = (np.frombuffer(frames, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 4:
        samples = np.frombuffer(frames, dtype="<i4").astype(np.float32) / 2147483648.0
    else:
        raise InvalidInput(f"Unsupported WAV sample width {width}")
    return samples.reshape(-1, channels).mean(axis=1), rate


def decode_audio(data: bytes, target_rate: int) -> np.ndarray:
    """Mono float32 samples at ``target_rate`` (linear resampling); InvalidInput when undecodable."""
    samples: np.ndarray
    try:
        import soundfile

        array, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        samples = array.mean(axis=1)
    except Exception:
        if data[:4] != b"RIFF":
            raise InvalidInput(
                "Could not decode the audio bytes (supported: WAV, FLAC, OGG; MP3 needs libsndfile >= 1.1)"
            ) from None
        try:
            samples, rate = _wav_stdlib(data)
        except (wave.Error, EOFError, ValueError) as exc:
            raise InvalidInput(f"Could not decode the WAV bytes: {exc}") from None
    if samples.size == 0:
        raise InvalidInput("The audio is empty")
    if rate != target_rate:
        duration = samples.size / rate
        n_out = max(1, round(duration * target_rate))
        positions = np.linspace(0, samples.size - 1, n_out)
        samples = np.interp(positions, np.arange(samples.size), samples).astype(np.float32)
    return samples.astype(np.float32, copy=False)


def decode_image(data: bytes) -> object:
    """An RGB ``PIL.Image`` from the bytes; InvalidInput when PIL cannot read them."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInput(f"Could not decode the image bytes: {exc}") from None
    return image.convert("RGB")
