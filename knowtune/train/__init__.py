"""The training loop and run directories."""

from .accounting import count_parameters, trainable_summary
from .loop import TrainStats, run_training
from .recipe import resolve_recipe
from ..config.run import ADAPTER_DIR, RUN_FILE
from .run import TrainedRun, load_for_training, prepare_data, train_run

__all__ = ["count_parameters", "trainable_summary", "TrainStats", "run_training", "ADAPTER_DIR", "RUN_FILE",
           "TrainedRun", "load_for_training", "prepare_data", "resolve_recipe", "train_run"]
