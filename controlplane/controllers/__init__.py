"""Controllers that run inside the control plane, leader-elected."""
