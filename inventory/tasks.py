"""Periodic inventory work (BMC polling, utilization snapshots) lands here with issue 6."""
