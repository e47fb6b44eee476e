-- Costs that do not grow with a user's token count (docs/capacity.md).
--
-- 1. One index per list order, so a page reads its rows in order instead of
--    sorting the owner's whole set: by name (then expiry, then id) and by
--    expiry (then name, then id), names compared without case as listed.
DROP INDEX pats_owner;
CREATE INDEX pats_owner_name
    ON pats (owner_id, display_name COLLATE NOCASE, valid_to_us, authorization_id);
CREATE INDEX pats_owner_expiry
    ON pats (owner_id, valid_to_us, display_name COLLATE NOCASE, authorization_id);
-- By status with every token listed, the revoked part reads only revoked
-- tokens (and the expired part the owner's expiry range).
CREATE INDEX pats_owner_revoked
    ON pats (owner_id, display_name COLLATE NOCASE, valid_to_us, authorization_id)
    WHERE revoked_at_us IS NOT NULL;

-- 2. Active tokens counted per owner and UTC day of expiry, kept by triggers
--    in the writing transaction: a token not revoked counts in the day its
--    `valid_to` falls in. The active count at `now` is the sum of the days
--    after today plus the few tokens expiring later today, whatever the
--    owner's total (at most one row per day of the longest lifetime).
CREATE TABLE active_pat_days (
    owner_id TEXT NOT NULL,
    day      INTEGER NOT NULL,  -- valid_to_us / 86400000000
    n        INTEGER NOT NULL,
    PRIMARY KEY (owner_id, day)
) WITHOUT ROWID;

INSERT INTO active_pat_days (owner_id, day, n)
    SELECT owner_id, valid_to_us / 86400000000, COUNT(*) FROM pats
    WHERE revoked_at_us IS NULL GROUP BY 1, 2;

CREATE TRIGGER pats_count_insert AFTER INSERT ON pats
WHEN NEW.revoked_at_us IS NULL
BEGIN
    INSERT INTO active_pat_days (owner_id, day, n)
        VALUES (NEW.owner_id, NEW.valid_to_us / 86400000000, 1)
        ON CONFLICT (owner_id, day) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER pats_count_update AFTER UPDATE OF revoked_at_us, valid_to_us, owner_id ON pats
BEGIN
    UPDATE active_pat_days SET n = n - 1
        WHERE OLD.revoked_at_us IS NULL
          AND owner_id = OLD.owner_id AND day = OLD.valid_to_us / 86400000000;
    INSERT INTO active_pat_days (owner_id, day, n)
        SELECT NEW.owner_id, NEW.valid_to_us / 86400000000, 1 WHERE NEW.revoked_at_us IS NULL
        ON CONFLICT (owner_id, day) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER pats_count_delete AFTER DELETE ON pats
WHEN OLD.revoked_at_us IS NULL
BEGIN
    UPDATE active_pat_days SET n = n - 1
        WHERE owner_id = OLD.owner_id AND day = OLD.valid_to_us / 86400000000;
END;
