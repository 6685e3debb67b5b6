import pytest

# helpers.py asserts too: have pytest explain its failures as it does in the test modules.
pytest.register_assert_rewrite("tests.deploy.helpers")
