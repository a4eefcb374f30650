"""Adapters to the world outside: the Vast marketplace (through the official SDK), the Hugging Face hub,
git remotes. Each turns a service's answers into zeb.core types and zeb.core.errors. registry.py is the one
place a fleet's marketplace is chosen (its `market`, a name -> factory).

May import: zeb.core and itself."""
