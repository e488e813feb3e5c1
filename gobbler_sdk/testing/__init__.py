"""Starting Gobbler services for tests and local development."""

from .service import GobblerService, ServiceStartError, free_port

__all__ = ["GobblerService", "ServiceStartError", "free_port"]
