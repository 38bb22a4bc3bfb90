"""The catalog document (YAML/JSON that RevOps edit): pydantic models, checks, conversion."""
