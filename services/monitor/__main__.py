from shared.service import serve

serve("services.monitor.app:app", "monitor")
