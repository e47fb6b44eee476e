-- Costs that do not grow with a user's token count (docs/capacity.md); the
-- same design as SQLite's migration 0009.
--
-- 1. One index per list order (names compared by lower() of a "C"-collated
--    column: ASCII-only folding, like SQLite's NOCASE).
DROP INDEX pats_owner;
-- The expiry index across owners goes: for a page by expiry of a large
-- owner the planner walked it and filtered by owner (16 ms for an owner of
-- 10,000 of 50,000 tokens) instead of reading the owner's own range. The
-- lifecycle jobs' expiry scan, every ten minutes, reads the table instead.
DROP INDEX pats_by_expiry;
CREATE INDEX pats_owner_name
    ON pats (owner_id, lower(display_name), valid_to_us, authorization_id);
CREATE INDEX pats_owner_expiry
    ON pats (owner_id, valid_to_us, lower(display_name), authorization_id);
-- By status with every token listed, the revoked part reads only revoked
-- tokens (and the expired part the owner's expiry range).
CREATE INDEX pats_owner_revoked
    ON pats (owner_id, lower(display_name), valid_to_us, authorization_id)
    WHERE revoked_at_us IS NOT NULL;

-- 2. Active tokens counted per owner and UTC day of expiry, kept by a
--    trigger in the writing transaction.
CREATE TABLE active_pat_days (
    owner_id TEXT COLLATE "C" NOT NULL,
    day      BIGINT NOT NULL,  -- valid_to_us / 86400000000
    n        BIGINT NOT NULL,
    PRIMARY KEY (owner_id, day)
);

INSERT INTO active_pat_days (owner_id, day, n)
    SELECT owner_id, valid_to_us / 86400000000, COUNT(*) FROM pats
    WHERE revoked_at_us IS NULL GROUP BY 1, 2;

CREATE FUNCTION pats_count_active() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.revoked_at_us IS NULL THEN
        UPDATE active_pat_days SET n = n - 1
            WHERE owner_id = OLD.owner_id AND day = OLD.valid_to_us / 86400000000;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.revoked_at_us IS NULL THEN
        INSERT INTO active_pat_days (owner_id, day, n)
            VALUES (NEW.owner_id, NEW.valid_to_us / 86400000000, 1)
            ON CONFLICT (owner_id, day) DO UPDATE SET n = active_pat_days.n + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER pats_count_insert_delete AFTER INSERT OR DELETE ON pats
    FOR EACH ROW EXECUTE FUNCTION pats_count_active();
CREATE TRIGGER pats_count_update AFTER UPDATE OF revoked_at_us, valid_to_us, owner_id ON pats
    FOR EACH ROW EXECUTE FUNCTION pats_count_active();
