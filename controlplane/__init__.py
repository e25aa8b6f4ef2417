"""podlab's control plane: the API server over etcd, and the controllers."""
