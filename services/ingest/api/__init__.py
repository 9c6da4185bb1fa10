"""The ingest HTTP API: uploads, imports, data set records and schema files."""
