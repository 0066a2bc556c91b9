-- IAM: users, groups, roles, managed policies, MFA devices, instance profiles, identity
-- providers and account settings, one row per entity. The body is the entity's record as JSON
-- (palisade-store's `IamRecord`); nothing secret is in it in the clear: passwords are Argon2id
-- hashes and MFA seeds are sealed (palisade-seal) before they get here.
CREATE TABLE iam_entities (
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, kind, entity_key)
);

-- GetAccessKeyLastUsed.
ALTER TABLE access_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE access_keys ADD COLUMN last_used_service TEXT;
ALTER TABLE access_keys ADD COLUMN last_used_region TEXT;
