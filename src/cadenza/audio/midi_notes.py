"""The notes of a standard MIDI file, per instrument, in seconds (tempo changes applied)."""

from __future__ import annotations

import io
from typing import Any

from cadenza.domain.errors import EngineError


def midi_instruments(data: bytes) -> list[dict[str, Any]]:
    """``[{name, program, is_drum, notes: [{pitch, start, end, velocity}]}]`` of every
    track with notes, in file order; times in seconds, to the millisecond."""
    import pretty_midi

    try:
        song = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as exc:  # a library that raises many kinds on a bad file
        raise EngineError(f"the MIDI file is unreadable ({type(exc).__name__})") from exc
    instruments: list[dict[str, Any]] = []
    for instrument in song.instruments:
        if not instrument.notes:
            continue
        name = instrument.name.strip() or (
            "Drums"
            if instrument.is_drum
            else str(pretty_midi.program_to_instrument_name(instrument.program))
        )
        notes = sorted(instrument.notes, key=lambda n: (n.start, n.pitch))
        instruments.append(
            {
                "name": name,
                "program": int(instrument.program),
                "is_drum": bool(instrument.is_drum),
                "notes": [
                    {
                        "pitch": int(n.pitch),
                        "start": round(float(n.start), 3),
                        "end": round(float(n.end), 3),
                        "velocity": int(n.velocity),
                    }
                    for n in notes
                ],
            }
        )
    return instruments
