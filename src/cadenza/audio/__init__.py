"""Tools over finished audio: edits, safe decoding of untrusted media, analysis."""
