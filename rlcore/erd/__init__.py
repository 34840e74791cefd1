"""Early rumour detection (ERD, Zhou et al. NAACL 2019): agent, networks, metrics, baselines."""

from rlcore.erd.detector import rdm_outputs
from rlcore.erd.erd import ERD
from rlcore.erd.metrics import Decision, accuracy_by_deadline, compute_metrics, format_table
from rlcore.erd.networks import RDM, CheckpointModule

__all__ = [
    "ERD",
    "RDM",
    "CheckpointModule",
    "Decision",
    "compute_metrics",
    "accuracy_by_deadline",
    "format_table",
    "rdm_outputs",
]
