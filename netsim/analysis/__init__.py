"""Questions asked of a simulation, answered as data: reachability tables, traces, pings.

Nothing here prints or exits; renderers (``render``) and the CLI decide how to show answers.
"""
