from shared.service import serve

serve("services.notifier.app:app", "notifier")
