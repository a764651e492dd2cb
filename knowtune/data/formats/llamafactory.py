"""A LLaMA-Factory data folder: `dataset_info.json` names each data set's file, format, columns and tags.

Local files are read as LLaMA-Factory reads them (alpaca or sharegpt, renamed columns and
tags, pre-training sets of one text column, preference sets marked `ranking`: their chosen
reply is the answer and the rejected one rides along, for the dpo, orpo and kto stages).
Hub-hosted entries are skipped with a note: knowtune reads local files only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from ...config import KnowtuneError
from .. import bounds
from .conversations import Columns, Conversation, Tags, from_alpaca, from_sharegpt
from .ranking import RankingColumns, ranking_from_alpaca, ranking_from_sharegpt
from .tables import TABLE_SUFFIXES, read_records
from .textfile import read_json

INFO_FILE = "dataset_info.json"
HUB_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")


@dataclass
class DatasetSet:
    conversations: list[Conversation] = field(default_factory=list)
    texts: list[dict] = field(default_factory=list)
    """Pre-training records: {"text", "source"}."""
    sources: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_dataset_info(path: str | Path, only: list[str] | None = None) -> DatasetSet:
    path = Path(path)
    text, info = read_json(path)
    bounds.check_depth(path, None, info)
    if not isinstance(info, dict):
        raise KnowtuneError("must be a JSON object of data set names to descriptions", file=str(path), line=1)
    for name in only or []:
        if name not in info:
            raise KnowtuneError(f"no data set {name!r}; it has: {', '.join(info)}", file=str(path),
                                field="--dataset")
    out = DatasetSet()
    for name, entry in info.items():
        if only and name not in only:
            continue
        _Entry(path, text, name, entry).load(out)
    if not out.conversations and not out.texts:
        raise KnowtuneError("no local data set to read (hub-hosted sets are skipped)",
                            file=str(path))
    return out


class _Entry:
    def __init__(self, info_path: Path, info_text: str, name: str, entry):
        self.info_path, self.name, self.entry = info_path, name, entry
        key_at = info_text.find(json.dumps(name))
        self.line = info_text.count("\n", 0, key_at) + 1 if key_at >= 0 else None

    def fail(self, key: str, why: str):
        raise KnowtuneError(why, file=str(self.info_path), line=self.line, field=f"{self.name}.{key}")

    def load(self, out: DatasetSet) -> None:
        entry = self.entry
        if not isinstance(entry, dict):
            self.fail("", "must be an object")
        if "file_name" not in entry:
            if any(k in entry for k in HUB_KEYS):
                out.notes.append(f"{self.name}: skipped (hosted on a hub; knowtune reads local files only)")
                return
            self.fail("file_name", "missing required field")
        formatting = entry.get("formatting", "alpaca")
        if formatting not in ("alpaca", "sharegpt"):
            self.fail("formatting", f"must be alpaca or sharegpt, got {formatting!r}")
        columns, tags = self._columns(formatting), self._tags()
        records = [(str(f), line, obj) for f in self._files() for line, obj in read_records(f)]
        present = set().union(*(obj.keys() for _, _, obj in records))
        if entry.get("ranking"):
            self._load_ranking(out, formatting, columns, tags, records, present)
            return
        pretrain = formatting == "alpaca" and columns.response not in present and "response" not in (
            entry.get("columns") or {})
        self._check_columns(columns, formatting, present, pretrain)
        kto = (entry.get("columns") or {}).get("kto_tag")
        count = 0
        for file, line, obj in records:
            if kto and obj.get(kto) is False:
                continue  # an undesirable answer: not something to learn
            if pretrain:
                value = obj.get(columns.prompt)
                if not isinstance(value, str) or not value.strip():
                    raise KnowtuneError("must be a non-empty string", file=file, line=line, field=columns.prompt)
                out.texts.append({"text": value.strip(), "source": f"{file}:{line}"})
            elif formatting == "alpaca":
                out.conversations.append(from_alpaca(obj, file, line, columns))
            else:
                out.conversations.append(from_sharegpt(obj, file, line, columns, tags))
            count += 1
        kind = "pretrain" if pretrain else formatting
        out.sources.append({"path": f"{self.info_path}#{self.name}", "format": f"llamafactory/{kind}",
                            "records": count})

    def _load_ranking(self, out: DatasetSet, formatting: str, columns: Columns, tags: Tags, records: list,
                      present: set[str]) -> None:
        """A preference set: each record's chosen reply as its answer, its rejected reply beside it."""
        given = self.entry.get("columns") or {}
        ranking = RankingColumns(chosen=given.get("chosen", "chosen"), rejected=given.get("rejected", "rejected"))
        wanted = {"prompt": columns.prompt} if formatting == "alpaca" else {"messages": columns.messages}
        for role, column in {**wanted, "chosen": ranking.chosen, "rejected": ranking.rejected}.items():
            if column not in present:
                self.fail(f"columns.{role}", f"points at a missing column {column!r} "
                                             f"(the data has: {', '.join(sorted(present))})")
        for file, line, obj in records:
            out.conversations.append(ranking_from_alpaca(obj, file, line, columns, ranking) if formatting == "alpaca"
                                     else ranking_from_sharegpt(obj, file, line, columns, tags, ranking))
        out.sources.append({"path": f"{self.info_path}#{self.name}", "format": f"llamafactory/{formatting}-ranking",
                            "records": len(records)})

    def _files(self) -> list[Path]:
        name = self.entry["file_name"]
        if not isinstance(name, str) or not name.strip():
            self.fail("file_name", "must be a file or folder name (string)")
        folder = self.info_path.parent
        target = folder / name
        if target.is_dir():
            files = sorted(p for p in target.iterdir() if p.suffix.lower() in TABLE_SUFFIXES)
            if not files:
                self.fail("file_name", f"folder {target} holds no {', '.join(TABLE_SUFFIXES)} file")
        elif target.is_file():
            files = [target]
        else:
            self.fail("file_name", f"points at a missing file: {target}")
        # confined to the info file's folder: a shared data folder must not read the rest of the disk
        for path in files:
            if not bounds.current().allow_outside and not bounds.inside(folder, path):
                self.fail("file_name", f"{path} lies outside {folder} (links resolved); "
                                       f"pass --allow-outside to read it")
        return files

    def _columns(self, formatting: str) -> Columns:
        given = self.entry.get("columns") or {}
        if not isinstance(given, dict):
            self.fail("columns", "must be an object of column names")
        known = {f.name for f in fields(Columns)} | {"tools", "images", "videos", "audios", "chosen",
                                                      "rejected", "kto_tag"}
        for key, value in given.items():
            if key not in known:
                self.fail(f"columns.{key}", f"unknown column role; known: {', '.join(sorted(known))}")
            if not isinstance(value, str):
                self.fail(f"columns.{key}", "must be a column name (string)")
        return Columns(**{k: v for k, v in given.items() if k in {f.name for f in fields(Columns)}})

    def _tags(self) -> Tags:
        given = self.entry.get("tags") or {}
        names = {f.name for f in fields(Tags)}
        if not isinstance(given, dict):
            self.fail("tags", "must be an object")
        for key, value in given.items():
            if key not in names:
                self.fail(f"tags.{key}", f"unknown tag; known: {', '.join(sorted(names))}")
            if not isinstance(value, str):
                self.fail(f"tags.{key}", "must be a string")
        return Tags(**given)

    def _check_columns(self, columns: Columns, formatting: str, present: set[str], pretrain: bool) -> None:
        """Every column the entry names must exist in the data: otherwise the entry is wrong, not a record."""
        given = self.entry.get("columns") or {}
        if formatting == "alpaca":
            wanted = {"prompt": columns.prompt} if pretrain else {"prompt": columns.prompt, "response": columns.response}
        else:
            wanted = {"messages": columns.messages}
        wanted.update({k: v for k, v in given.items() if k in ("history", "system", "query")})
        for role, column in wanted.items():
            if column not in present and (role in given or role in ("prompt", "messages", "response")):
                self.fail(f"columns.{role}", f"points at a missing column {column!r} "
                                             f"(the data has: {', '.join(sorted(present))})")
