"""Slack in: the Bolt app and its listeners, one module per kind of interaction.

    app.py          builds the Bolt app: event dedupe, each module's listeners, the error reply
    commands.py     ``/ops …``
    buttons.py      Approve / Reject, Stop, Run <playbook>
    declare.py      the declare form: /ops declare alone, the message shortcut, the submission
    events.py       reactions (timeline pins) and @mentions (triage)
    events_once.py  a Slack retry of an event is handled once, on any replica
    silences.py     the root's "Silence alerts…" select
    incident_controls.py  the root's Acknowledge, Resolve, I'll lead and severity select
    follow_ups.py   the summary's Done buttons of follow-ups
    home.py         the App Home tab: published when opened, redrawn after a click on it
    paging.py       the root's "Page" button
    interaction.py  what a listener reads from Slack's signed body (who clicked, which value)

Listeners ``ack()`` first (Slack wants it within 3 s), then call the domain in a worker thread,
and answer through ``respond()`` or the Web API.
"""
