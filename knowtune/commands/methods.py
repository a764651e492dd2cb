"""`knowtune methods`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..config import describe_fields
from ..methods import get_method, method_names


def methods_command() -> None:
    console = Console()
    for name in method_names():
        method = get_method(name)
        rate = f"; learning rate {method.default_lr:g}" if method.default_lr else ""
        table = Table(title=f"{name}: {method.summary}" + ("" if method.mergeable else " (not mergeable)") + rate,
                      title_justify="left")
        table.add_column("param")
        table.add_column("default")
        table.add_column("meaning")
        for field, _type, default, doc in describe_fields(method.params_cls):
            table.add_row(field, repr(default), doc)
        console.print(table)
