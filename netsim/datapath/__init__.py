"""The data plane: namespaces, devices and the one forwarding core that moves packets.

Nothing in this package knows about Docker, swarm or topology files: the control plane
(``netsim.engine``) creates devices, addresses, routes and netfilter rules here, the way
dockerd programs a Linux kernel, and then the datapath forwards frames on its own.
"""
