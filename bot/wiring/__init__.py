"""The composition root: opsbot's parts built from settings, once, in one place.

    clients.py   the one typed set of outside clients (``bot.clients.set.Clients``)
    ops.py       the executor and the playbook runner, with their thread hooks
    core.py      what every process needs: engine, catalog, fleet place, clients, ops
    runtime.py   a serving process: the core plus transport, outbox, enrichment, jobs,
                 summaries and the background loops the fleet hands out
    warm_up.py   after start, in the background: the chart's libraries, where charts are drawn

``opsbot serve`` (``bot.app``), ``opsbot console`` (``bot.cli``) and the tests (through
``bot.app.build_app``) all build through here.
"""
