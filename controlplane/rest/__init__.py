"""The Kubernetes REST API over the registry: what kubectl and the official clients speak."""

from controlplane.rest.app import make_app
from controlplane.rest.serve import serve_https

__all__ = ["make_app", "serve_https"]
