from shared.service import serve

serve("services.inference.app:app", "inference")
