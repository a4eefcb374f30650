"""Adapters to the world outside: the Vast marketplace (through the official SDK), the Hugging Face hub,
git remotes. Each turns a service's answers into zeb.core types and zeb.core.errors.

May import: zeb.core and itself."""
