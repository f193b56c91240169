"""Generate the chimes played before announcements: resources/sounds/{new_order,reminder,alert,urgent}.wav.

Pure Python (`wave` + `math`), no third-party audio, so the sounds are ours to ship. Output is
deterministic: running it again gives byte-identical files, and the WAVs are committed.

    python packaging/tools/make_chimes.py [--out resources/sounds]

16-bit PCM mono at 44.1 kHz: what QSoundEffect (and every platform mixer) plays without
conversion surprises. Each chime is short (< 0.7 s) so the words follow quickly.
"""

from __future__ import annotations

import argparse
import math
import struct
import wave
from pathlib import Path

RATE = 44100
PEAK = 0.8  # headroom, so the mixer never clips a chime played at full volume

# (frequency Hz, start s, length s) per note. Bell-like: a fundamental with soft harmonics and
# an exponential decay. New order: a bright rising "ding-dong"; reminder: three quick urgent
# taps (different enough to tell apart without looking); alert: a falling pair, lower.
CHIMES: dict[str, list[tuple[float, float, float]]] = {
    "new_order": [(987.77, 0.00, 0.30), (1318.51, 0.16, 0.45)],  # B5 -> E6
    "reminder": [(1760.00, 0.00, 0.16), (1760.00, 0.17, 0.16), (1760.00, 0.34, 0.30)],  # A6 x3
    "alert": [(880.00, 0.00, 0.30), (587.33, 0.22, 0.42)],  # A5 -> D5
    # Escalation (an order nobody acted on for minutes): an alarm-like alternation, sustained
    # instead of decaying, with odd harmonics and nearly full scale, so it is clearly louder
    # (about 3x the RMS of new_order) and more urgent than every other chime.
    "urgent": [(1760.00 if i % 2 else 1318.51, i * 0.125, 0.12) for i in range(8)],  # E6/A6 x4
}
HARMONICS = ((1.0, 1.0), (2.0, 0.35), (3.0, 0.12))  # (multiple, weight)
# Per chime: (harmonics, decay per note length, peak). The bells ring out; the alarm holds.
VOICING: dict[str, tuple[tuple[tuple[float, float], ...], float, float]] = {
    "urgent": (((1.0, 1.0), (3.0, 0.33), (5.0, 0.2)), 0.8, 0.98),
}


def render(notes: list[tuple[float, float, float]], harmonics=HARMONICS, decay: float = 6.0,
           peak: float = PEAK) -> list[float]:
    """Samples in -1..1 for the notes mixed together."""
    total = max(start + length for _f, start, length in notes) + 0.02
    samples = [0.0] * int(total * RATE)
    for freq, start, length in notes:
        first = int(start * RATE)
        count = int(length * RATE)
        attack = int(0.004 * RATE)  # a few ms of fade-in: no click at the onset
        for i in range(count):
            t = i / RATE
            envelope = math.exp(-t * decay / length)
            if i < attack:
                envelope *= i / attack
            if i > count - 200:  # fade the tail to zero: no click at the end either
                envelope *= (count - i) / 200
            value = sum(w * math.sin(2 * math.pi * freq * m * t) for m, w in harmonics)
            samples[first + i] += envelope * value
    loudest = max(abs(s) for s in samples) or 1.0
    return [s * peak / loudest for s in samples]


def write_wav(path: Path, samples: list[float]) -> None:
    frames = b"".join(struct.pack("<h", round(s * 32767)) for s in samples)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(frames)


def main(argv: list[str] | None = None) -> int:
    default_out = Path(__file__).resolve().parents[2] / "resources" / "sounds"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out, help="folder for the WAV files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, notes in CHIMES.items():
        path = args.out / f"{name}.wav"
        write_wav(path, render(notes, *VOICING.get(name, (HARMONICS, 6.0, PEAK))))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
