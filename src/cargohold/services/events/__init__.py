"""Events: the outbox every change writes to in its own transaction (`outbox.record`), who
acts (`actors`), the audit log's reads (`audit`) and download counts (`downloads`).

The lowest service domain: every other one records here, and this one imports none of them.
"""
