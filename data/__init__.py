"""Data files bundled with fastnn (installed as ``fastnn._data``); see README.md."""
