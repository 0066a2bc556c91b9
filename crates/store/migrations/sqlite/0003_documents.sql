-- Service state kept as whole documents: KMS keys, aliases and grants, secrets, trails. Each
-- service owns its collections (`kms.key`, `secretsmanager.secret`, ...) and the encoding of
-- its bodies; the store only keeps them and changes them atomically. Nothing secret is in a
-- body in the clear: key material and secret values are sealed (palisade-seal) or encrypted
-- under a KMS key before they get here.
CREATE TABLE documents (
    collection TEXT NOT NULL,
    doc_key TEXT NOT NULL,
    body BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (collection, doc_key)
);
