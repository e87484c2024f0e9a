"""The built-in singing voice: eSpeak NG phonemes resynthesised on the melody with WORLD."""

from cadenza.compose.voice.phonemes import phonemes_for
from cadenza.compose.voice.singer import VoiceBank, sing, sing_parts

__all__ = ["VoiceBank", "phonemes_for", "sing", "sing_parts"]
