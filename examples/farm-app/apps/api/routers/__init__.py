"""HTTP routers of the API, all mounted under ``/api``."""
