"""Who may run and approve which action or playbook, where; approval expiry."""
