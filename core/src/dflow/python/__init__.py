"""OP authoring API."""
