"""The lifecycle: playbooks, plans, the schedule, evidence and the gates that decide phase changes."""
