"""The control plane of one Docker host: what dockerd and libnetwork do.

An ``Engine`` owns its host's networks and containers and programs the host's datapath the
way dockerd programs a Linux kernel: bridges, veth pairs, addresses, routes, iptables rules.
Each network driver lives in ``drivers/`` behind one contract (``drivers.api.Driver``), listed once in ``drivers.REGISTRY``.
"""
