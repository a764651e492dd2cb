"""Fine-tuning methods behind one registry (see registry.py for the module contract)."""

from .merge import merge_trained
from .persist import attach_trained, read_meta, save_trained
from .registry import METHOD_MODULES, Method, get_method, method_names

__all__ = ["METHOD_MODULES", "Method", "get_method", "method_names", "save_trained",
           "attach_trained", "read_meta", "merge_trained"]
