"""The PostgreSQL store, for several nodes sharing one database."""
