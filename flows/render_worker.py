"""What a render process runs: chunks of context rows (Arrow IPC) in, rendered messages (Arrow IPC files) out.

A render process imports this module, the renderer and pyarrow, and nothing else of size: no Polars, no
DuckDB, no Prefect, no pydantic (the campaign comes as a CampaignSpec): 0.2 s of CPU before it is ready.
"""
from __future__ import annotations

import gc
import io
import itertools
import os
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc
from legatura.transforms.context import sample_row
from legatura.transforms.render import CampaignSpec, Renderer, render_columns

# what rendering gives per queued decision; decision_no joins it back to the decision
RESULT_SCHEMA = pa.schema([("decision_no", pa.int64()), ("subject", pa.large_string()),
                           ("body_text", pa.large_string()), ("body_html", pa.large_string()),
                           ("sms_segments", pa.int32()), ("reason", pa.large_string()),
                           ("error", pa.large_string())])
_worker: Renderer | None = None   # this process's renderer (set once by start)
_failed: BaseException | None = None   # why it could not be built: raised on the first chunk, not in a respawn loop
_folder: str | None = None   # where this process leaves its rendered chunks (the pool's private folder)
_done = itertools.count()


def start(templates: str, campaign: CampaignSpec, organisation: dict, as_of: date, folder: str) -> None:
    """Build the renderer and render the sample contact once: Babel loads its locale data before the first chunk."""
    global _worker, _failed, _folder
    _folder = folder
    try:
        _worker = Renderer(Path(templates), campaign, organisation, as_of)
        for language in campaign.languages:
            for channel in campaign.channels:
                _worker.render(sample_row(channel, language))
    except Exception as exc:   # the parent's check reports a broken campaign; the pool must not respawn forever
        _failed = exc
    gc.freeze()   # the modules and the renderer stay: the collector's passes skip them


def render(chunk: bytes) -> str:
    """Render one chunk; its messages go to a file the parent maps (hundreds of MB of HTML stay out of the pipe)."""
    if _failed is not None:
        raise _failed
    path = os.path.join(_folder, f"{os.getpid()}-{next(_done)}.arrow")
    table = render_table(_worker, pa.ipc.open_file(io.BytesIO(chunk)).read_all())
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, RESULT_SCHEMA) as writer:
        writer.write_table(table)
    return path


def column_values(column: pa.ChunkedArray | pa.Array) -> list:
    """A column as Python values, as `to_pylist` gives them. Dates, timestamps and decimals are made once per
    distinct value (they repeat across an audience, and making them one by one is most of the cost)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = array.type
    if pa.types.is_struct(kind):
        names = [kind.field(i).name for i in range(kind.num_fields)]
        children = [column_values(child) for child in array.flatten()]
        present = array.is_valid().to_pylist()
        return [dict(zip(names, row)) if ok else None for ok, *row in zip(present, *children)]
    if pa.types.is_decimal(kind) or pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        encoded = pc.dictionary_encode(array)
        distinct = encoded.dictionary.to_pylist()
        return [None if i is None else distinct[i] for i in encoded.indices.to_pylist()]
    return array.to_pylist()


def render_table(renderer: Renderer, chunk: pa.Table) -> pa.Table:
    """Render each row of `chunk` (context rows) into a RESULT_SCHEMA table."""
    names = chunk.column_names
    values = [column_values(chunk.column(name)) for name in names]
    done = render_columns(renderer, (dict(zip(names, row)) for row in zip(*values)))
    return pa.table([chunk.column("decision_no").cast(pa.int64()), *done], schema=RESULT_SCHEMA)
