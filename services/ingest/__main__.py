from shared.service import serve

serve("services.ingest.app:app", "ingest")
