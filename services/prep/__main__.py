from shared.service import serve

serve("services.prep.app:app", "prep")
