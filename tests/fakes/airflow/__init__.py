"""A fake of Airflow 2's stable REST API (DAGs and DAG runs), driven by opsbot's ``httpx`` client
(``bot/clients/airflow.py``).

``api.py`` holds ``AirflowApiFake``, the server.
"""
