"""Reusable parts for modality authors, named by technique, never by modality."""
