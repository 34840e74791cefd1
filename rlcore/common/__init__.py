"""Pieces shared by every agent: safe checkpoints, input checks."""
