"""The inference service: async predictions with micro-batching, hot model swap and traffic capture (port 8080)."""
