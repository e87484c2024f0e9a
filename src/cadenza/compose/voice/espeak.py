"""A minimal ctypes binding to libespeak-ng, used only for its phoneme timings and audio.

eSpeak NG keeps its state in C globals, so every in-process call goes through one lock.
That state also carries over between utterances (glottal phase, pitch flutter), so the same
text can come out a few samples different on a second call. ``speak_fresh`` therefore runs
this very file as a short-lived child process (standard library only, hence no numpy here):
a fresh process speaks the same list of texts identically every time.
Synchronous mode with phoneme events gives each phoneme's exact sample position, which the
command line tools do not.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_EVENT_LIST_TERMINATED = 0
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7

_LIBRARY_NAMES = ("libespeak-ng.so.1", "libespeak-ng.so", "espeak-ng")


class EspeakError(RuntimeError):
    """eSpeak NG is missing or refused the request."""


class _EventId(ctypes.Union):
    _fields_ = (
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    )


class _Event(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    )


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Phone:
    """One phoneme as spoken: IPA name ('' for a pause) and its sample span."""

    ipa: str
    start: int
    end: int

    @property
    def is_pause(self) -> bool:
        return self.ipa == ""


@dataclass(frozen=True)
class Utterance:
    """eSpeak's audio for a text with the phonemes it spoke, in order."""

    pcm: bytes  # 16-bit native-endian mono
    sample_rate: int
    phones: tuple[Phone, ...]

    @property
    def length(self) -> int:
        return len(self.pcm) // 2


class _Engine:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib: Any = None
        self._sample_rate = 0
        self._chunks: list[bytes] = []
        self._events: list[tuple[int, int, str]] = []
        self._callback = _CALLBACK(self._on_audio)

    def _on_audio(self, wav: Any, count: int, events: Any) -> int:
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                raw = bytes(event.id.string).split(b"\0", 1)[0]
                name = raw.decode("utf-8", "replace")
                if name.startswith("("):  # a language switch marker such as "(en)"
                    name = ""
                self._events.append((event.type, event.sample, name))
            elif event.type in (_EVENT_END, _EVENT_MSG_TERMINATED):
                self._events.append((event.type, event.sample, ""))
            i += 1
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    def _load(self) -> None:
        if self._lib is not None:
            return
        lib = None
        for name in (*_LIBRARY_NAMES[:2], ctypes.util.find_library(_LIBRARY_NAMES[2])):
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        if lib is None:
            raise EspeakError("libespeak-ng is not installed")
        lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = (
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        )
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = (_CALLBACK,)
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA
        )
        if rate <= 0:
            raise EspeakError("espeak_Initialize failed (is espeak-ng-data installed?)")
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib
        self._sample_rate = rate

    def speak(
        self, text: str, voice: str, rate_wpm: int = 150, pitch: int = 50, range_: int = 50
    ) -> Utterance:
        with self._lock:
            self._load()
            lib = self._lib
            if lib.espeak_SetVoiceByName(voice.encode("ascii")) != 0:
                raise EspeakError(f"eSpeak NG has no voice {voice!r}")
            lib.espeak_SetParameter(_PARAM_RATE, int(rate_wpm), 0)
            lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
            lib.espeak_SetParameter(_PARAM_RANGE, int(range_), 0)
            self._chunks = []
            self._events = []
            data = text.encode("utf-8") + b"\0"
            status = lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            if status != 0:
                raise EspeakError(f"espeak_Synth failed with status {status}")
            chunks, events = self._chunks, self._events
            self._chunks, self._events = [], []
        pcm = b"".join(chunks)
        return Utterance(pcm, self._sample_rate, _phones(events, len(pcm) // 2))


def _phones(events: list[tuple[int, int, str]], total: int) -> tuple[Phone, ...]:
    """Turn phoneme events into spans: a phoneme ends where the next event starts."""
    phones: list[Phone] = []
    for i, (kind, sample, name) in enumerate(events):
        if kind != _EVENT_PHONEME:
            continue
        end = total
        for _, later, _ in events[i + 1 :]:
            if later >= sample:
                end = later
                break
        start = min(max(sample, 0), total)
        end = min(max(end, start), total)
        if end > start or name:
            phones.append(Phone(name, start, end))
    return tuple(p for p in phones if p.end > p.start)


_ENGINE = _Engine()


def speak(
    text: str, voice: str, rate_wpm: int = 150, pitch: int = 50, range_: int = 50
) -> Utterance:
    """Speak ``text`` with the eSpeak NG ``voice`` (e.g. ``en-us``, ``cmn-latn-pinyin``).

    ``pitch`` and ``range_`` are eSpeak's 0-100 scales (base pitch, intonation range).
    """
    return _ENGINE.speak(text, voice, rate_wpm, pitch, range_)


Request = tuple[str, str, int, int, int]  # text, voice, rate (wpm), pitch, range


def speak_fresh(requests: list[Request], timeout_s: float = 300.0) -> list[Utterance]:
    """Speak each request, in order, in a fresh child process: reproducible to the sample."""
    if not requests:
        return []
    payload = json.dumps([list(r) for r in requests]).encode("utf-8")
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", __file__],
            input=payload,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EspeakError(f"eSpeak NG worker failed: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise EspeakError(f"eSpeak NG worker failed: {' '.join(tail) or done.returncode}")
    return _decode(done.stdout, len(requests))


def _decode(data: bytes, count: int) -> list[Utterance]:
    out: list[Utterance] = []
    at = 0
    for _ in range(count):
        end = data.index(b"\n", at)
        head = json.loads(data[at:end])
        if head.get("error"):
            raise EspeakError(str(head["error"]))
        size = int(head["bytes"])
        pcm = data[end + 1 : end + 1 + size]
        phones = tuple(Phone(str(p[0]), int(p[1]), int(p[2])) for p in head["phones"])
        out.append(Utterance(pcm, int(head["rate"]), phones))
        at = end + 1 + size
    return out


def _serve() -> None:
    """Child side of ``speak_fresh``: requests as JSON on stdin, utterances on stdout."""
    requests = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    out = sys.stdout.buffer
    for text, voice, rate, pitch, range_ in requests:
        try:
            u = speak(str(text), str(voice), int(rate), int(pitch), int(range_))
            head = {
                "rate": u.sample_rate,
                "bytes": len(u.pcm),
                "phones": [[p.ipa, p.start, p.end] for p in u.phones],
            }
            out.write(json.dumps(head).encode("utf-8") + b"\n" + u.pcm)
        except EspeakError as exc:
            out.write(json.dumps({"error": str(exc)}).encode("utf-8") + b"\n")
    out.flush()


if __name__ == "__main__":
    _serve()
