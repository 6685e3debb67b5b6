"""A fake Slack: the Web API methods opsbot calls, file uploads, ``response_url`` endpoints and a
Socket Mode websocket server, driven by the real ``slack_sdk`` / ``slack_bolt`` clients.

``api.py`` holds ``SlackEmulator``, the server; its docstring lists the other modules.
"""
