"""Silences (maintenance windows) and flapping: less noise, nothing lost (issue 12).

Both live in AlarmHistoryTable beside the history, as their own item types (``type`` below), so
the CLI, the incident card and the history read one table and one ``--table``.

| item | pk | sk | gsi1pk / gsi1sk | kept (TTL ``expires_at``) |
|---|---|---|---|---|
| silence | ``SILENCE#<id>`` | ``SILENCE`` | ``SILENCES`` / ``<ends_at>#<id>`` | 30 days after it ends |
| flap change (one per MessageId) | ``FLAP#<incident_key>`` | ``CHG#<event_at>#<message_id>`` | - | 7 days |
| flap state (one per alarm) | ``FLAP#<incident_key>`` | ``STATE`` | ``FLAPPING`` / ``<since>#<incident_key>`` while flapping | 7 days after its last change |
| flap summary (one per episode) | ``FLAP#<incident_key>`` | ``SUMMARY#<since>`` | ``FLAPSUMMARY`` / ``<until>#<incident_key>`` until the sweep has sent it | 7 days |

| access pattern | how |
|---|---|
| silences that apply now (per notification, cached ``SILENCE_CACHE_SECONDS``) | Query gsi1 ``SILENCES``, ``gsi1sk >= <now>`` (not yet ended), match in memory |
| ``silence list``: pending, active, ended in the last 30 days | Query gsi1 ``SILENCES``, ``gsi1sk >= <now - 30 days>`` |
| a silence by id (expire, count a hit) | GetItem / UpdateItem ``SILENCE#<id>`` |
| an alarm's changes in the flap window + its state | one consistent Query ``FLAP#<key>``, ``sk >= CHG#<event_at - window>`` (``STATE`` sorts after ``CHG#``) |
| changes held in an episode | Query ``FLAP#<key>``, ``sk BETWEEN CHG#<since> AND CHG#<until>``, Select COUNT |
| flapping alarms (the sweep: stable yet?) | Query gsi1 ``FLAPPING`` |
| summaries not yet sent by the sweep | Query gsi1 ``FLAPSUMMARY`` |

The table's stream (read by the Slack incident view) carries these items too. RULE: the
projection acts only on items whose ``type`` is ``event`` or ``incident``; every item of this
package has another ``type`` (``silence``, ``flap_change``, ``flap_state``, ``flap_summary``), so
filter the event source on it (``FilterCriteria``: ``dynamodb.NewImage.type.S`` in
``["event", "incident"]``, plus ``dynamodb.OldImage.type.S`` for removals): filtered records cost
no invocation.

No request here is a TransactWriteItems: every write is one conditional PutItem or UpdateItem, so
real DynamoDB makes each atomic and moto's server models it faithfully under concurrency.
"""  # noqa: E501 - the tables are easier to read unwrapped
