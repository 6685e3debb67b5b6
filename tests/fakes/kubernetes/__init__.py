"""A fake Kubernetes API server (apps/v1, autoscaling/v2, batch/v1, core/v1 pods and events,
RBAC), driven by the official ``kubernetes`` client through a kubeconfig the fake writes
(``bot/clients/kubernetes.py``).

``api.py`` holds ``KubeApiFake``, the server; its docstring lists the other modules.
"""
