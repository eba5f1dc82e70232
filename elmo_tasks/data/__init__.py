"""Readers and writers for task data files."""
