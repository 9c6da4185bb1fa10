from shared.service import serve

serve("services.trainer.app:app", "trainer")
