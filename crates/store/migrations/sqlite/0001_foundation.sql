-- Accounts, access keys and the audit log: the foundation every service builds on.
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL
);

-- The secret half of each key is sealed (palisade-seal) and bound to the access key id.
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    principal_type TEXT NOT NULL,
    principal_arn TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    user_name TEXT,
    sealed_secret BLOB NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX access_keys_by_principal ON access_keys(account_id, principal_arn);

-- One row per request. The indexed columns serve LookupEvents; record holds the full
-- CloudTrail record as JSON.
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    event_time_ms INTEGER NOT NULL,
    account_id TEXT NOT NULL,
    event_source TEXT NOT NULL,
    event_name TEXT NOT NULL,
    read_only INTEGER NOT NULL,
    access_key_id TEXT,
    user_name TEXT,
    error_code TEXT,
    record TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events(account_id, event_time_ms);
