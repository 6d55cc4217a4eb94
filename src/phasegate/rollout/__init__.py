"""Rollout: the gateway, stages, kill switch, inference log and review queue."""
