-- Notice intents: what a change promised to tell people (emails, webhook
-- deliveries), written in the change's own transaction beside its audit
-- record, and deleted once the notifier has put the notices in the outbox.
-- A process that dies between the commit and that step leaves the intent
-- here for the job runner, so no notice is lost (docs/notifications.md).
CREATE TABLE notice_intents (
    audit_id TEXT PRIMARY KEY NOT NULL REFERENCES audit_events (id),
    at_us INTEGER NOT NULL,
    intent TEXT NOT NULL
);
CREATE INDEX notice_intents_by_time ON notice_intents (at_us);
