"""Bridges to other libraries (DeepXDE), built from the same Problem."""
