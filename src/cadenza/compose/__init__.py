"""The built-in, score-first song engine: compose a score, then render it."""
