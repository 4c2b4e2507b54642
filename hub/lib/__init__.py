"""Domain-free helpers (the bottom layer): nothing here imports a hub model or an app."""
