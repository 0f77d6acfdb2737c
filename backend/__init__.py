"""Task API backend: FastAPI routes implementing openapi.yaml."""
