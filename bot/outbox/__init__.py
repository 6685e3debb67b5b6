"""The outbox: every Slack message opsbot sends is first a row, written in the same transaction
as the change it reports (``queue``), then sent by one sender per fleet at Slack's pace, in
order per thread, retried and never doubled (``sender``, ``ratelimit``, ``rows``). ``transport``
is the Slack or console end it sends through; ``kinds`` renders each kind of message (the
incident's root, replies, files, a job's messages, the summary) behind one interface; ``storm``
names every incident of an alert storm in one message while their threads open at the pace."""
