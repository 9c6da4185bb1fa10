from shared.service import serve

serve("services.registry.app:app", "registry")
