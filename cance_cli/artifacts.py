"""Compatibility: the names this module held before it was split into :mod:`cance_cli.io` (provenance,
paths, checkpoints, tables) and :mod:`cance_cli.runtime.interrupts`. New code imports from those."""

from __future__ import annotations

from cance_cli.io.checkpoints import (  # noqa: F401
    _PRELOADED,
    _as_tuple,
    _checkpoint_bytes,
    _header_metadata,
    _meta_of,
    build_matching,
    load_checkpoint,
    load_state,
    preloaded,
    read_checkpoint_meta,
    rebuilding,
    require_meta,
    save_checkpoint,
)
from cance_cli.io.paths import (  # noqa: F401
    FORMAT_NAMES,
    OTHER_FORMAT_SUFFIXES,
    OUTPUT_SUFFIXES,
    TMP_SUFFIX,
    _same_file,
    atomic_path,
    check_output,
    check_outputs,
    current_umask,
    first_repeat,
    glob_escape,
    pid_alive,
    refuse_dangling_link,
    remove_stale_temps,
)
from cance_cli.io.provenance import (  # noqa: F401
    _RUN,
    FORMAT_NAME,
    META_KEY,
    _finite_float,
    _refuse_constant,
    array_fingerprint,
    dumps,
    file_sha256,
    json_safe,
    provenance_header,
    run_context,
    set_run_context,
    strict_loads,
    versions,
)
from cance_cli.io.tables import (  # noqa: F401
    ROW_GROUP_BYTES,
    ROW_GROUP_ROWS,
    AtomicParquetWriter,
    anomaly_flags,
    dictionary_columns,
    float64_column,
    identity_columns,
    iter_batches,
    numeric_values,
    open_table,
    read_columns,
    require_columns,
    schema_with_meta,
    table_meta,
)
from cance_cli.runtime.interrupts import (  # noqa: F401
    _interrupts,
    interrupted,
    raise_if_interrupted,
    record_interrupt,
)
