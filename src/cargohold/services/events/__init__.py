"""Events: the outbox every change writes to in its own transaction (`outbox.record`), who
acts (`actors`), the audit log's reads (`audit`), download counts (`downloads`), and what
readers of the outbox share: the cursor they read under (`cursors`) and the queue of work
served under each owner's lease (`leased_queue`), used by webhooks and replication.

The lowest service domain: every other one records here, and this one imports none of them.
"""
