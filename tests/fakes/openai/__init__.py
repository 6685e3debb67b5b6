"""A fake OpenAI Chat Completions API with scripted answers, driven by the official ``openai``
client (``bot/clients/llm.py``).

``api.py`` holds ``OpenAIFake`` and the reply helpers; ``requests.py`` the request checks.
"""
