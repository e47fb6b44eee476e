-- Notice intents (as migrations/sqlite/0008_notice_intents.sql): what a
-- change promised to tell people (emails, webhook deliveries), written in
-- the change's own transaction beside its audit record, and deleted once the
-- notifier has put the notices in the outbox. A process that dies between
-- the commit and that step leaves the intent here for the job runner (of
-- whichever replica holds the lease), so no notice is lost
-- (docs/notifications.md).
CREATE TABLE notice_intents (
    audit_id TEXT COLLATE "C" PRIMARY KEY REFERENCES audit_events (id),
    at_us    BIGINT NOT NULL,
    intent   TEXT COLLATE "C" NOT NULL
);
CREATE INDEX notice_intents_by_time ON notice_intents (at_us);
