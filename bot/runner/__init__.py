"""Running actions and playbooks: the one execution path, approvals, the playbook graph."""
