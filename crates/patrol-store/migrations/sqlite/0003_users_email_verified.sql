-- Whether the issuer vouched for the user's email at the last sign-in (`email_verified: true`,
-- or an issuer configured as verifying its emails). Only a vouched-for email is handed to
-- other services. Users signed in before this column existed count as not vouched for until
-- their next sign-in.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
