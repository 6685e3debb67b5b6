"""Ray jobs from chat: templates, the command line each becomes, tracking to the end."""
