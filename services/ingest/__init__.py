"""The ingest service: streams uploads and URL imports into `raw/`, and keeps the data sets' pipeline records."""
