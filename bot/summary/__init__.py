"""The post-incident summary: what a team pastes into its postmortem.

    gather (facts.py)           store + catalog (+ Prometheus) → SummaryFacts (model.py), each
         │                      fact with the timeline event ids it came from
         ├── template.py        SummaryFacts → Document (doc.py): what happened, impact,
         │                      phases, cause, actions taken, follow-ups, timeline
         ├── markdown.py        Document → Markdown (outside text kept from breaking it)
         ├── narrative.py       SummaryFacts → the LLM's sentences for the five narrative parts,
         │                      each citing timeline events; a part that fails the check keeps
         │                      the template's text
         └── slack.py           Document → Block Kit (mrkdwn made inert, within Slack's limits),
                                with a Done button per tracked follow-up still open

``build.py`` holds the two entry points, ``template_summary`` and ``llm_summary``, each returning
a ``SummaryDraft`` (Markdown, Slack text and blocks, the narrative JSON, the source). ``words.py``
writes times, durations and counts the same way everywhere. Gathering only reads; nothing here
writes to the store or talks to Slack (``worker.py`` does, with what ``build.py`` returns), except
``follow_up_controls.py``: when a follow-up is marked done it swaps the Done buttons in the stored
summary and queues the edit, in the caller's transaction.
"""
