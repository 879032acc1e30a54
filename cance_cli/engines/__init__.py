"""Where a table-level stage runs besides this process (the local engine is :mod:`cance_cli.pipeline`)."""
