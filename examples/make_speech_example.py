"""Synthesize the speech example with the eSpeak NG speech synthesizer: two phrases with a pause between.

    pip install espeakng-loader==0.2.4   # eSpeak NG's library and voice data, nothing else
    python examples/make_speech_example.py

Writes examples/audio/speech.flac: 8 s of mono speech at 22.05 kHz (eSpeak NG's own rate). The pause
between the phrases is digital silence, which makes the clip a test of whether silences stay silent.
The synthesizer is driven through its C API (speak_lib.h) with ctypes: the wheel ships the library only.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import soundfile

HERE = Path(__file__).resolve().parent / "audio"
SECONDS = 8.0
TEXT = ('<speak>Listen to the rain on the window, it falls all night. <break time="900ms"/>'
        " Every drop keeps its own time, and the morning comes slowly.</speak>")
SYNCHRONOUS = 2            # espeak_AUDIO_OUTPUT: samples go to the callback, espeak_Synth returns when done
SSML, END_PAUSE = 0x10, 0x1000
RATE_PARAMETER = 1         # espeakRATE, in words per minute
Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def speak(text: str, voice: str = "en-us", words_per_minute: int = 170) -> tuple[np.ndarray, int]:
    import espeakng_loader

    library = ctypes.CDLL(espeakng_loader.get_library_path())
    rate = library.espeak_Initialize(SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
    if rate <= 0:
        raise RuntimeError("eSpeak NG did not start")
    chunks: list[np.ndarray] = []

    def collect(samples, count, _events) -> int:
        if count > 0:
            chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0  # go on

    callback = Callback(collect)  # kept referenced until synthesis ends
    library.espeak_SetSynthCallback(callback)
    library.espeak_SetVoiceByName(voice.encode())
    library.espeak_SetParameter(RATE_PARAMETER, words_per_minute, 0)
    encoded = text.encode()
    library.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, SSML | END_PAUSE, None, None)
    library.espeak_Synchronize()
    return np.concatenate(chunks).astype(np.float32) / 32768.0, rate


def main() -> None:
    samples, rate = speak(TEXT)
    length = int(SECONDS * rate)
    samples = np.pad(samples, (0, max(0, length - len(samples))))[:length]
    samples = 0.9 * samples / np.abs(samples).max()
    HERE.mkdir(parents=True, exist_ok=True)
    soundfile.write(HERE / "speech.flac", samples, rate, subtype="PCM_16")


if __name__ == "__main__":
    main()
