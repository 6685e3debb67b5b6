"""Reliability KPIs over a period: incidents, response times, change failure rate, rollbacks."""
