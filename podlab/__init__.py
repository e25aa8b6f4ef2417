"""podlab: a small, real, Kubernetes-style pod cluster."""

__version__ = "0.1.0"
