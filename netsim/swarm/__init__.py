"""The swarm control plane, above the engines: membership, manager allocation, NetworkDB gossip.

The engines never import this package; protocols (``networkdb``) reach the network only through
a ``transport``.
"""
