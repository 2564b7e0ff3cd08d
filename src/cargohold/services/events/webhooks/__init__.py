"""Webhooks: endpoints that a workspace's events are sent to (`endpoints`), the bodies in
each format (`formats`), and delivery from the outbox in every node (`delivery`)."""
