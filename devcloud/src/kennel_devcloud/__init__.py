"""Glue for Kennel's local OpenStack control plane (devcloud).

Test and demo infrastructure: the portal never imports this package.
"""
