-- The first accepted use of a PAT, kept once set. The inactivity rule
-- ("not used within N days of creation") reads it: `last_used_at_us` moves on
-- with every use, so a PAT used on day 89 and again on day 91 looked unused
-- within its window from day 91 on.
ALTER TABLE pats ADD COLUMN first_used_at_us INTEGER;

-- Existing rows: the only use time known is the last one (as before).
UPDATE pats SET first_used_at_us = last_used_at_us WHERE last_used_at_us IS NOT NULL;
