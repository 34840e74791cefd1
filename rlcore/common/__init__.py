"""Pieces shared by every agent: safe checkpoints, input checks, lazily committed tables,
and the SB3 glue (env wrapping, logger, callbacks) of the models that are not SB3 algorithms."""
