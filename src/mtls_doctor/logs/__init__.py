"""ALB connection logs: the field list, the parser, input sources, the DuckDB store, queries."""
