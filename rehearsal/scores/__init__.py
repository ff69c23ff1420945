"""Scores that drive recording and label takes (the format: rehearsal.notation.score)."""
