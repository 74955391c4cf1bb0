"""uio.core — the engine. It knows no modality by name."""
